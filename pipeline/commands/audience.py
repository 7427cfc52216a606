"""`chorus audience`: the true community size, from ClickHouse or a JSONL file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import BinaryIO

import click

from pipeline.settings import Settings


@click.group("audience")
def group() -> None:
    """The true community size, from ClickHouse or a JSONL file."""


@group.command("report")
@click.option(
    "--from",
    "source",
    type=click.File("rb"),
    required=True,
    help="JSONL events (- for stdin), ingested and deduplicated in memory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every metric as one JSON object.")
@click.option(
    "--link-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Identity links below this confidence are ignored.",
)
@click.pass_obj
def report(settings: Settings, source: BinaryIO, as_json: bool, link_threshold: float) -> None:
    """Naive reach vs the true community, scopes, unique audiences, clusters, campaigns."""
    from pipeline.audience.report import Report, rows_from_jsonl
    from pipeline.ingest import Ingestor, pseudonymiser_from_env

    rejected = 0

    def count_rejected(number: int, message: str) -> None:
        nonlocal rejected
        rejected += 1
        if rejected <= 5:
            click.echo(f"line {number} rejected: {message}", err=True)

    ingestor = Ingestor(pseudonymiser_from_env(settings.environment))
    rows = rows_from_jsonl(
        (line.rstrip(b"\r\n") for line in source),
        ingestor,
        datetime.now(UTC),
        link_threshold=link_threshold,
        on_rejected=count_rejected,
    )
    if rejected:
        click.echo(f"{rejected:,} lines rejected", err=True)
    result = Report.from_rows(rows)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, default=str))
    else:
        for line in result.lines():
            click.echo(line)
