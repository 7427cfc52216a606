"""`chorus policy`: try posts against the slip-up policy; validate a policy file."""

from __future__ import annotations

from pathlib import Path

import click

PolicyPath = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("policy")
def group() -> None:
    """Try posts against the slip-up policy; validate a policy file."""


@group.command("check")
@click.argument("text")
@click.option("--policy", "policy_path", type=PolicyPath, help="Policy file (default: shipped).")
def check(text: str, policy_path: Path | None) -> None:
    """Print every rule that fires on TEXT and why; exit 1 if any fired."""
    from pipeline.policy import Policy, PolicyError

    try:
        policy = Policy.load(policy_path)
    except PolicyError as exc:
        raise click.ClickException(f"the policy does not load:\n{exc}") from exc
    matches = policy.check(text)
    if not matches:
        click.echo("clean: no rule fired")
        return
    for match in matches:
        click.echo(f"{match.severity.upper():8} {match.category}  rule {match.rule}")
        click.echo(f"         excerpt: {match.excerpt}")
        click.echo(f"         hint:    {match.hint}")
    raise SystemExit(1)


@group.command("lint")
@click.argument("path", type=PolicyPath, required=False)
def lint_command(path: Path | None) -> None:
    """Validate a policy file (default: the shipped one); exit 1 on problems."""
    from pipeline.policy import Policy, lint

    problems = lint(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {path or 'default policy'} ({Policy.load(path).term_count} terms)")
