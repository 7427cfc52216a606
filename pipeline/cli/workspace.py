"""`chorus workspace`, `chorus users …` and `chorus review export`: the communications team's side."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from pipeline.cli.reading import clickhouse
from pipeline.settings import Settings

ROLE_CHOICE = click.Choice(["viewer", "reviewer", "admin"])


@click.command("workspace")
@click.option("--host", help="Address to serve on (default: CHORUS_WORKSPACE_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: CHORUS_WORKSPACE_PORT, 8050).")
@click.option("--refresh", default=30, show_default=True, help="Seconds between dashboard reloads.")
@click.pass_obj
def workspace(settings: Settings, host: str | None, port: int | None, refresh: int) -> None:
    """The review queue, spot checks, employees' histories, the policy's figures and the dashboard."""
    serve_workspace(settings, host, port, refresh)


def serve_workspace(settings: Settings, host: str | None, port: int | None, refresh: int) -> None:
    from pipeline.workspace.serve import serve

    if not settings.users_path.exists():
        raise click.ClickException(
            f"no workspace accounts yet ({settings.users_path}): "
            "add one with `chorus users add NAME --role admin`"
        )
    serve(
        settings,
        host or settings.workspace_host,
        port or settings.workspace_port,
        click.echo,
        refresh_seconds=refresh,
    )


@click.group("users")
def users() -> None:
    """Workspace accounts: viewer (dashboards), reviewer (acts on flags), admin (users, policy)."""


def _users(settings: Settings):  # type: ignore[no-untyped-def]  # keeps argon2 out of `chorus --help`
    from pipeline.workspace.users import Users

    return Users(settings.users_path)


def _password(given: str | None, generate: bool) -> str:
    from pipeline.workspace.users import generated_password

    if given is not None:
        return given
    if generate:
        return generated_password()
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option(
    "--sso", is_flag=True, help="No password: only a trusted proxy's header logs them in."
)
@click.option(
    "--generate", is_flag=True, help="Generate the password and print it once (else: prompt)."
)
@click.pass_obj
def add(settings: Settings, name: str, role: str, sso: bool, generate: bool) -> None:
    """Add an account."""
    from pipeline.workspace.users import UserError

    password = None if sso else _password(None, generate)
    try:
        _users(settings).add(name, role, password)  # type: ignore[arg-type]
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {name} ({role})" + (f", password: {password}" if generate else ""))


@users.command("remove")
@click.argument("name")
@click.pass_obj
def remove(settings: Settings, name: str) -> None:
    """Remove an account (its sessions end at their next request)."""
    from pipeline.workspace.users import UserError

    try:
        _users(settings).remove(name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {name}")


@users.command("list")
@click.pass_obj
def list_users(settings: Settings) -> None:
    """Every account and its role."""
    for user in _users(settings).all().values():
        kind = "single sign-on" if not user.password_hash else "password"
        click.echo(f"{user.name:24} {user.role:9} {kind}")


@users.command("passwd")
@click.argument("name")
@click.option("--generate", is_flag=True, help="Generate the password and print it once.")
@click.pass_obj
def passwd(settings: Settings, name: str, generate: bool) -> None:
    """Set an account's password."""
    from pipeline.workspace.users import UserError

    password = _password(None, generate)
    try:
        _users(settings).set_password(name, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password of {name} changed" + (f": {password}" if generate else ""))


@click.group("review")
def review() -> None:
    """The review trail, for compliance."""


@review.command("export")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory to write.")
@click.pass_obj
def export(settings: Settings, since: date, fmt: str, out: Path) -> None:
    """Flags since DATE and every action on them, one file each (CSV or Parquet)."""
    from pipeline.warehouse.review_archive import export_trail

    with clickhouse(settings, "the flags and their review trail") as client:
        for path, rows in export_trail(client.execute, since, fmt, out):
            click.echo(f"{rows:,} rows -> {path}")


@review.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
@click.pass_obj
def purge(settings: Settings, dry_run: bool) -> None:
    """Delete flags and their trail older than CHORUS_REVIEW_RETENTION_DAYS (run it daily)."""
    from pipeline.warehouse.review_archive import purge as purge_old

    with clickhouse(settings, "the flags and their review trail") as client:
        counts = purge_old(client.execute, settings.review_retention_days, dry_run)
    verb = "would delete" if dry_run else "deleted"
    for table, rows in counts.items():
        click.echo(
            f"{table}: {verb} {rows:,} rows older than {settings.review_retention_days} days"
        )
