"""`chorus simulate`: a synthetic company with known ground truth."""

from __future__ import annotations

import click


@click.command("simulate")
def command() -> None:
    """A synthetic company with known ground truth (JSONL, or straight to Kafka)."""
    raise click.ClickException("not built yet")
