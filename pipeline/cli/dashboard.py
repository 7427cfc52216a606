"""`chorus dashboard`: the executive dashboard, as a self-contained file or served live (behind the workspace's login)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.settings import Settings


@click.command("dashboard")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here (one file, opens offline).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Serve the page live from ClickHouse, in the workspace (viewers log in; see `chorus users`).",
)
@click.option("--host", help="Address to serve on (default: CHORUS_WORKSPACE_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: CHORUS_WORKSPACE_PORT, 8050).")
@click.option(
    "--refresh",
    default=30,
    show_default=True,
    help="Seconds between reloads of the live page.",
)
@click.pass_obj
def command(
    settings: Settings,
    out: Path | None,
    serve: bool,
    host: str | None,
    port: int | None,
    refresh: int,
) -> None:
    """True vs naive reach, the conversation, campaigns, coverage, departments, leaderboard, slip-ups."""
    if out is None and not serve:
        raise click.UsageError("say where the dashboard goes: --out FILE.html and/or --serve")
    from pipeline.dashboard import WarehouseUnavailable, write_dashboard

    if out is not None:
        try:
            click.echo(f"dashboard written to {write_dashboard(settings, out)}")
        except WarehouseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
    if serve:
        from pipeline.cli.workspace import serve_workspace

        serve_workspace(settings, host, port, refresh)
