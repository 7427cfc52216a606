"""`chorus audience`: the true community size, from ClickHouse or a JSONL file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import BinaryIO

import click

from pipeline.settings import Settings
from schemas.metrics import MetricRow


@click.group("audience")
def group() -> None:
    """The true community size, from ClickHouse or a JSONL file."""


@group.command("report")
@click.option(
    "--from",
    "source",
    type=click.File("rb"),
    help="JSONL events (- for stdin), computed here; without it: the latest snapshot in ClickHouse.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every metric as one JSON object.")
@click.option(
    "--link-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="With --from: identity links below this confidence are ignored [default: CHORUS_LINK_THRESHOLD].",
)
@click.pass_obj
def report(
    settings: Settings, source: BinaryIO | None, as_json: bool, link_threshold: float | None
) -> None:
    """Naive reach vs the true community, scopes, unique audiences, clusters, campaigns."""
    from pipeline.audience.report import Report

    rows = (
        _rows_from_file(settings, source, link_threshold or settings.link_threshold)
        if source is not None
        else _rows_from_clickhouse(settings)
    )
    result = Report.from_rows(rows)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, default=str))
    else:
        for line in result.lines():
            click.echo(line)


def _rows_from_clickhouse(settings: Settings) -> list[MetricRow]:
    from clickhouse_driver.errors import Error

    from pipeline import warehouse

    client = warehouse.client(settings)
    try:
        rows = warehouse.latest_snapshot_rows(client)
    except (Error, OSError, EOFError) as exc:
        raise click.ClickException(
            f"cannot read the snapshots from ClickHouse ({str(exc).splitlines()[0]}); "
            "are the services up and migrated? (`chorus services up`, `chorus db migrate`)"
        ) from exc
    finally:
        client.disconnect()
    if not rows:
        raise click.ClickException("no audience snapshot in ClickHouse yet: is the worker running?")
    return rows


def _rows_from_file(settings: Settings, source: BinaryIO, link_threshold: float) -> list[MetricRow]:
    from pipeline.audience.report import rows_from_jsonl
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
    return rows
