"""`chorus audience`: the true community size, from ClickHouse or a JSONL file."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

import click

from pipeline.cli.reading import clickhouse
from pipeline.conversation import CONVERSATION_DAYS
from pipeline.settings import Settings
from schemas.metrics import MetricRow

if TYPE_CHECKING:
    from pipeline.conversation import Conversation


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
    talk = _conversation(settings, CONVERSATION_DAYS) if source is None else None
    if as_json:
        document = result.as_json()
        if talk is not None:
            document["conversation"] = dataclasses.asdict(talk["company"])
        click.echo(json.dumps(document, indent=2, default=str))
        return
    conversation_lines: list[str] = []
    if talk is not None and result.company is not None and "company" in talk:
        from pipeline.conversation import headline

        company = talk["company"]
        conversation_lines = headline(company, result.company.estimated_persons, CONVERSATION_DAYS)
    for line in result.lines(conversation_lines):
        click.echo(line)


@group.command("conversation")
@click.option("--days", default=CONVERSATION_DAYS, show_default=True, help="The window, in days.")
@click.option("--json", "as_json", is_flag=True, help="Every scope's figures as one JSON object.")
@click.pass_obj
def conversation(settings: Settings, days: int, as_json: bool) -> None:
    """Is it a conversation? Replies, response times, the engaged community, ambassadors, value."""
    from pipeline.audience.report import Report
    from pipeline.conversation import earned_media_value, headline, leaderboard, prices

    talk = _conversation(settings, days)
    if talk is None or "company" not in talk:
        raise click.ClickException("no posts in ClickHouse yet: is the worker running?")
    snapshot = Report.from_rows(_rows_from_clickhouse(settings))
    networks = [s for s in snapshot.scopes if s.scope_kind == "network"]
    clicks = {
        name.partition(":")[2]: c.clicks for name, c in talk.items() if name.startswith("network:")
    }
    try:
        value = earned_media_value(
            networks,
            clicks,
            prices(settings.emv_cpm),
            prices(settings.emv_cpc),
            settings.emv_currency,
        )
    except ValueError as exc:
        raise click.UsageError(f"CHORUS_EMV_CPM / CHORUS_EMV_CPC: {exc}") from exc
    leaders = leaderboard(snapshot.employees, talk)
    if as_json:
        document = {
            "days": days,
            "scopes": {name: dataclasses.asdict(c) for name, c in talk.items()},
            "leaderboard": [dataclasses.asdict(leader) for leader in leaders],
            "earned_media_value": dataclasses.asdict(value),
        }
        click.echo(json.dumps(document, indent=2, default=str))
        return
    company = snapshot.company
    for line in headline(talk["company"], company.estimated_persons if company else 0.0, days):
        click.echo(line)
    click.echo(
        f"Earned media value (estimate): {value.deduplicated:,.0f} {value.currency} counting persons, "
        f"{value.naive:,.0f} {value.currency} counting the naive sum"
    )
    click.echo("")
    click.echo(
        f"{'scope':28} {'posts':>7} {'outside':>8} {'comments':>9} {'answered':>9} "
        f"{'median':>8} {'engaged':>9} {'active':>11} {'shares/post':>11} {'likes/post':>10}"
    )
    for name, c in sorted(talk.items()):
        if name.startswith("employee:"):
            continue
        click.echo(
            f"{name[:28]:28} {c.posts:>7,} {c.conversation_share:>8.0%} {c.comments:>9,} "
            f"{c.response_rate:>9.0%} {c.median_response_seconds / 3600:>7.1f}h "
            f"{c.engaged_persons:>9,} {c.active_ambassadors:>5,}/{c.ambassadors:<5,} "
            f"{c.amplification:>11.2f} {c.applause:>10.2f}"
        )
    click.echo("")
    click.echo("Leaderboard: the audience only they bring, then how much they converse")
    for rank, leader in enumerate(leaders, start=1):
        click.echo(
            f"  {rank:>2}. {leader.employee_id:24} {leader.exclusive_followers:>8,} exclusive "
            f"{leader.conversation_share:>5.0%} replies outside {leader.response_rate:>5.0%} answered "
            f"({leader.department})"
        )


def _conversation(settings: Settings, days: int) -> dict[str, Conversation] | None:
    """Every scope's conversation over the data's last `days` days; None before any data."""
    from pipeline.warehouse.conversation import conversation, data_end

    with clickhouse(settings, "the conversation") as client:
        end = data_end(client.execute)
        return None if end is None else conversation(client.execute, end, days)


def _rows_from_clickhouse(settings: Settings) -> list[MetricRow]:
    from pipeline import warehouse

    with clickhouse(settings, "the snapshots") as client:
        rows = warehouse.latest_snapshot_rows(client)
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
