"""pipeline.sink without Kafka or ClickHouse: batching, dead letters, retries, one log line per outage."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_driver.errors import NetworkError

from pipeline.sink import SINK_DECODE, Backoff, Outage, Sink
from pipeline.warehouse import Table
from schemas import events, metrics
from schemas.dead_letter import DeadLetter
from schemas.events import Follow
from schemas.metrics import CoveragePoint, ScopeMetrics

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def follow(i: int) -> bytes:
    return events.encoder.encode(
        Follow(event_id=f"f{i}", occurred_at=T, network="x", account_id="@a",
               follower_id=f"p{i}", action="follow")
    )  # fmt: skip


class FakeClickHouse:
    """Records inserts; fails the first `failures` calls like a server that is down."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.rows: dict[str, list[Any]] = {}

    def insert(self, table: Table, records: Sequence[Any]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NetworkError("Connection refused (127.0.0.1:19000)")
        table.to_columns(records)  # the mapping must accept them
        self.rows.setdefault(table.name, []).extend(records)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_sink(clickhouse: FakeClickHouse, clock: Clock, **options: Any) -> Sink:
    return Sink(
        "follows",
        events.decoder_for(Follow),
        clickhouse.insert,
        clock=clock,
        sleep=clock.sleep,
        backoff=Backoff(rng=random.Random(7)),
        **options,
    )


def test_a_batch_is_due_when_full_or_old_enough() -> None:
    clock = Clock()
    sink = make_sink(FakeClickHouse(), clock, max_rows=3, max_seconds=1.0)
    assert not sink.due
    assert not sink.add(follow(1))
    assert not sink.add(follow(2))
    assert sink.add(follow(3))
    asyncio.run(sink.flush())
    assert not sink.add(follow(4))
    clock.now += 1.0
    assert sink.due


def test_flush_inserts_each_table_once_and_empties_the_buffer() -> None:
    clickhouse, clock = FakeClickHouse(), Clock()
    sink = make_sink(clickhouse, clock)
    for i in range(10):
        sink.add(follow(i))
    assert asyncio.run(sink.flush()) == 10
    assert clickhouse.calls == 1
    assert [r.event_id for r in clickhouse.rows["follows"]] == [f"f{i}" for i in range(10)]
    assert asyncio.run(sink.flush()) == 0
    assert clickhouse.calls == 1


def test_metrics_rows_go_to_their_own_tables() -> None:
    clickhouse = FakeClickHouse()
    sink = Sink("metrics", metrics.decoder, clickhouse.insert)
    sink.add(metrics.encoder.encode(
        ScopeMetrics(snapshot_id="s", taken_at=T, scope_kind="company", scope="", employees=1,
                     naive_reach=2, distinct_accounts=2, distinct_persons=2, estimated_persons=2.0,
                     ci_low=2.0, ci_high=2.0)))  # fmt: skip
    sink.add(metrics.encoder.encode(
        CoveragePoint(snapshot_id="s", taken_at=T, rank=1, employee_id="e", new_persons=2,
                      cumulative_persons=2, cumulative_share=1.0)))  # fmt: skip
    asyncio.run(sink.flush())
    assert sorted(clickhouse.rows) == ["community_scopes", "coverage_curve"]


def test_an_invalid_payload_becomes_a_dead_letter_and_the_rest_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clickhouse = FakeClickHouse()
    sink = make_sink(clickhouse, Clock())
    sink.add(follow(1), "chorus.follows", 0, 41)
    sink.add(b'{"event_id": 7}', "chorus.follows", 0, 42)
    sink.add(follow(3), "chorus.follows", 0, 43)
    asyncio.run(sink.flush())
    assert [r.event_id for r in clickhouse.rows["follows"]] == ["f1", "f3"]
    [letter] = clickhouse.rows["dead_letters"]
    assert isinstance(letter, DeadLetter)
    assert (letter.topic, letter.partition, letter.offset) == ("chorus.follows", 0, 42)
    assert (letter.reason, letter.raw) == (SINK_DECODE, b'{"event_id": 7}')
    assert "does not decode" in caplog.text


def test_while_clickhouse_is_down_flush_retries_with_growing_jittered_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clickhouse, clock = FakeClickHouse(failures=12), Clock()
    sink = make_sink(clickhouse, clock)
    for i in range(5):
        sink.add(follow(i))
    with caplog.at_level(logging.INFO, logger="pipeline.sink"):
        assert asyncio.run(sink.flush()) == 5
    assert clickhouse.calls == 13
    assert len(clickhouse.rows["follows"]) == 5  # nothing lost, nothing twice
    assert all(0.25 <= d <= 0.5 for d in clock.slept[:1])
    assert clock.slept[3] > clock.slept[0]
    assert max(clock.slept) <= 30.0
    assert clock.slept[-1] >= 15.0  # capped at 30 s, equal jitter keeps at least half
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert len(infos) == 1 and "12 failed attempts" in infos[0].getMessage()


def test_one_outage_logs_once_for_all_sinks(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage()
    with caplog.at_level(logging.INFO, logger="pipeline.sink"):
        for source in ("follows", "posts", "follows"):
            outage.failed(source, source, 10, NetworkError("down"))
        outage.succeeded()
        outage.succeeded()
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


def test_a_table_written_before_a_failure_is_not_written_again() -> None:
    class FailSecondTable(FakeClickHouse):
        def insert(self, table: Table, records: Sequence[Any]) -> None:
            if table.name == "dead_letters" and self.failures:
                self.failures -= 1
                raise NetworkError("down")
            super().insert(table, records)

    clickhouse = FailSecondTable(failures=2)
    sink = make_sink(clickhouse, Clock())
    sink.add(follow(1))
    sink.add(b"not json", "t", 0, 1)
    asyncio.run(sink.flush())
    assert len(clickhouse.rows["follows"]) == 1
    assert len(clickhouse.rows["dead_letters"]) == 1


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(initial=1.0, cap=30.0, rng=random.Random(1))
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)):
        assert ceiling / 2 <= backoff.delay(attempt) <= ceiling
    assert len({backoff.delay(3) for _ in range(10)}) > 1
