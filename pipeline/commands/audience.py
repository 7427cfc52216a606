"""`chorus audience`: the true community size, from ClickHouse or a JSONL file."""

from __future__ import annotations

import click


@click.group("audience")
def group() -> None:
    """The true community size, from ClickHouse or a JSONL file."""
