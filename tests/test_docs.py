"""The documents that state facts about the code say what the code does."""

from __future__ import annotations

import re

from pipeline.settings import PROJECT_ROOT, Settings


def test_the_configuration_reference_lists_every_setting_with_its_default() -> None:
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    table = text.split("<!-- settings:begin -->")[1].split("<!-- settings:end -->")[0]
    documented = {
        match.group(1): (match.group(2), match.group(3))
        for match in re.finditer(r"^\| `(CHORUS_\w+)` \| `?([^|`]*)`? \| (.+?) \|$", table, re.M)
    }
    expected = {
        env: (default, meaning)
        for env, default, meaning in Settings(state_dir=PROJECT_ROOT / ".chorus").describe()
    }
    expected["CHORUS_STATE_DIR"] = (".chorus/ in the checkout", expected["CHORUS_STATE_DIR"][1])
    assert documented == expected


def test_every_command_of_the_readme_exists() -> None:
    from click.testing import CliRunner

    from pipeline.cli.main import cli

    readme = (PROJECT_ROOT / "README.md").read_text()
    commands = set(re.findall(r"`chorus ((?:[a-z]+)(?: [a-z]+)?)", readme))
    runner = CliRunner()
    for command in sorted(commands):
        result = runner.invoke(cli, [*command.split(), "--help"])
        assert result.exit_code == 0, f"`chorus {command}` from the README: {result.output}"
