"""`chorus connect NETWORK --config FILE`: employees' accounts on a real network, into chorus.raw."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.settings import Settings
from pipeline.sources.config import NETWORKS

if TYPE_CHECKING:
    from pipeline.sources.config import ConnectorsConfig


@click.command("connect")
@click.argument("network", type=click.Choice(NETWORKS, case_sensitive=False))
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The TOML file listing the employees' accounts (docs/sources.md).",
)
@click.option("--live", is_flag=True, help="bluesky: follow the Jetstream firehose until Ctrl-C.")
@click.option(
    "--metrics-port",
    type=int,
    help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while running.",
)
@click.pass_obj
def command(
    settings: Settings, network: str, config_path: Path, live: bool, metrics_port: int | None
) -> None:
    """Read NETWORK's accounts (mastodon, bluesky, x, linkedin) into chorus.raw, resumably.

    Each run sends what changed since the last one (new posts, follows and
    unfollows from the follower lists); a run that was killed resumes where it
    was saved, and events sent twice carry the same ids, so nothing counts twice.
    """
    import asyncio

    from agents.kafka.admin import declare_topics
    from pipeline.sources import config as connectors_config

    try:
        config = connectors_config.load(config_path)
    except connectors_config.ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from pipeline.observability import REGISTRY

        start_http_server(metrics_port, addr="127.0.0.1", registry=REGISTRY)
    declare_topics(settings)
    from pipeline.sources.http import ApiError
    from pipeline.sources.run import AccountsFailed

    try:
        sent = asyncio.run(_connect(settings, network.lower(), config, live))
    except connectors_config.ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except (AccountsFailed, ApiError) as exc:
        raise click.ClickException(str(exc)) from exc
    summary = ", ".join(f"{count:,} {kind}" for kind, count in sorted(sent.items()))
    click.echo(f"{network}: sent {sum(sent.values()):,} events ({summary or 'nothing new'})")


async def _connect(
    settings: Settings, network: str, config: ConnectorsConfig, live: bool
) -> dict[str, int]:
    import asyncio
    import signal

    from agents.kafka.connectors import open_connector_io
    from pipeline.sources.connectors import run_network
    from pipeline.sources.run import Connection

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producer, output, checkpoints = await open_connector_io(settings)
    conn = Connection(network, output, checkpoints, progress=click.echo)
    try:
        await run_network(network, config, conn, live=live, stop=stop)
    finally:
        await producer.stop()
    return dict(conn.sent)
