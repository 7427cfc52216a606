"""`chorus db`: ClickHouse migrations."""

from __future__ import annotations

import click


@click.group("db")
def group() -> None:
    """ClickHouse migrations."""
