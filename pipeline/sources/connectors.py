"""`chorus connect NETWORK`: which connector reads which part of the configuration.

The command (pipeline/cli/connect.py) gives a `Connection` writing to Kafka;
the tests give one writing to memory. Everything between is this module.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TypeVar

from pipeline.sources.config import ConfigError, ConnectorsConfig
from pipeline.sources.http import ApiClient
from pipeline.sources.identity import resolve_handle
from pipeline.sources.run import Connection

S = TypeVar("S")


async def run_network(
    network: str,
    config: ConnectorsConfig,
    conn: Connection,
    *,
    live: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """One run of `network`'s connector; with `live` (Bluesky), follow Jetstream until `stop`."""
    if live and network != "bluesky":
        raise ConfigError("--live is for bluesky (Jetstream) only")
    if network == "mastodon":
        from pipeline.sources.mastodon import MastodonConnector

        section = _section(config.mastodon, network)
        async with ApiClient(network, token=section.token()) as api:
            resolver = None
            if config.bluesky is not None:
                resolver = partial(resolve_handle, api, config.bluesky.service)
            await MastodonConnector(section, conn, api, resolver).run()
    elif network == "bluesky":
        bluesky = _section(config.bluesky, network)
        if live:
            from pipeline.sources.jetstream import JetstreamConnector

            await JetstreamConnector(bluesky, conn).run(stop)
        else:
            from pipeline.sources.bluesky import BlueskyConnector

            async with ApiClient(network, token=bluesky.token()) as api:
                await BlueskyConnector(bluesky, conn, api).run()
    elif network == "x":
        from pipeline.sources.x_archive import XArchiveConnector

        await XArchiveConnector(_section(config.x, network), conn).run()
    elif network == "linkedin":
        from pipeline.sources.linkedin import LinkedInConnector

        await LinkedInConnector(_section(config.linkedin, network), conn).run()
    else:
        raise ConfigError(f"unknown network {network!r}")


def _section(section: S | None, network: str) -> S:
    if section is None:
        raise ConfigError(f"the configuration has no [{network}] section")
    return section
