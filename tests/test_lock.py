"""requirements.lock pins what setup.cfg asks for, and the test run uses it.

setup.cfg keeps the ranges a library user needs; the lock is the one set of
versions that `make` installs. These checks fail when the two drift apart (a
requirement added without `make lock`, a pin edited outside its range), and
when the environment running the suite is not the lock.
"""

from __future__ import annotations

import configparser
import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.settings import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)
REMEDY = "run `make lock` and review the diff (docs/operations.md, 'Upgrading dependencies')"


def locked() -> dict[str, str]:
    text = (PROJECT_ROOT / "requirements.lock").read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def declared() -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(PROJECT_ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    for extra in config["options.extras_require"].values():
        lines += extra.splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def test_every_requirement_is_locked_within_its_range() -> None:
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: {REMEDY}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: {REMEDY}"
        )


def test_every_pin_has_a_hash() -> None:
    text = (PROJECT_ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        if PIN.match(block):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}: {REMEDY}"


def test_the_suite_runs_on_the_locked_versions() -> None:
    for name, version in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is locked but not installed: run `make`") from None
        assert installed == version, (
            f"{name} {installed} is installed, the lock says {version}: `make` installs the lock"
        )
