"""`chorus dashboard`: the executive dashboard, as a self-contained file or served live."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from pipeline.settings import Settings


@click.command("dashboard")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here (one file, opens offline).",
)
@click.option("--serve", is_flag=True, help="Serve the page live from ClickHouse.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8050, show_default=True, help="Port to serve on.")
@click.option(
    "--refresh",
    default=30,
    show_default=True,
    help="Seconds between reloads of the live page.",
)
@click.pass_obj
def command(
    settings: Settings, out: Path | None, serve: bool, host: str, port: int, refresh: int
) -> None:
    """True vs naive reach, the conversation, campaigns, coverage, departments, leaderboard, slip-ups."""
    if out is None and not serve:
        raise click.UsageError("say where the dashboard goes: --out FILE.html and/or --serve")
    from pipeline.dashboard import WarehouseUnavailable, write_dashboard
    from pipeline.dashboard.data import read_dashboard
    from pipeline.dashboard.server import make_server

    if out is not None:
        try:
            click.echo(f"dashboard written to {write_dashboard(settings, out)}")
        except WarehouseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
    if serve:
        server = make_server(partial(read_dashboard, settings), host, port, refresh_seconds=refresh)
        click.echo(f"dashboard on http://{host}:{server.server_port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
