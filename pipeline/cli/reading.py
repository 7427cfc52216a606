"""What the commands that read ClickHouse share: a client, and one clear error when it cannot answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from pipeline.settings import Settings

if TYPE_CHECKING:
    from clickhouse_driver import Client


@contextlib.contextmanager
def clickhouse(settings: Settings, what: str) -> Iterator[Client]:
    """A client; a ClickHouse that cannot be read is a clear error naming `what` was read."""
    from clickhouse_driver.errors import Error

    from pipeline import warehouse

    client = warehouse.client(settings)
    try:
        yield client
    except (Error, OSError, EOFError) as exc:
        raise click.ClickException(
            f"cannot read {what} from ClickHouse ({str(exc).splitlines()[0]}); "
            "are the services up and migrated? (`chorus services up`, `chorus db migrate`)"
        ) from exc
    finally:
        client.disconnect()
