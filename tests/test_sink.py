"""pipeline.sink without Kafka or ClickHouse: batching, dead letters, retries, one log line per outage."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_driver.errors import NetworkError

from pipeline.sink import SINK_DECODE, Backoff, Outage, Sink
from pipeline.topology import BY_NAME
from pipeline.warehouse import Block, Table
from schemas import columnar
from schemas.columnar import BatchDecoder
from schemas.events import Follow
from schemas.metrics import CoveragePoint, ScopeMetrics

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def follows(*ids: int) -> bytes:
    """One Kafka message of follows, as `agents.kafka.output.KafkaOutput` writes it."""
    return columnar.encode(
        [Follow(event_id=f"f{i}", occurred_at=T, network="x", account_id="@a",
                follower_id=f"p{i}", action="follow") for i in ids]
    )  # fmt: skip


class FakeClickHouse:
    """Records inserts, a row as {column: value}; the first `failures` fail as if it were down."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def insert(self, table: Table, columns: Block) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NetworkError("Connection refused (127.0.0.1:19000)")
        assert len(columns) == len(table.columns)
        rows = [
            dict(zip(table.columns, values, strict=True)) for values in zip(*columns, strict=True)
        ]
        self.rows.setdefault(table.name, []).extend(rows)

    def event_ids(self, table: str = "follows") -> list[str]:
        return [row["event_id"] for row in self.rows.get(table, [])]


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
        BatchDecoder(Follow),
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
    assert not sink.add(follows(1))
    assert not sink.add(follows(2))
    assert sink.add(follows(3))
    asyncio.run(sink.submit())
    assert not sink.add(follows(4))
    clock.now += 1.0
    assert sink.due


def test_submit_inserts_each_table_once_and_empties_the_buffer() -> None:
    clickhouse, clock = FakeClickHouse(), Clock()
    sink = make_sink(clickhouse, clock)
    for i in range(10):
        sink.add(follows(i))
    assert asyncio.run(sink.submit()) == 10
    assert clickhouse.calls == 1
    assert clickhouse.event_ids() == [f"f{i}" for i in range(10)]
    assert asyncio.run(sink.submit()) == 0
    assert clickhouse.calls == 1


def test_metrics_rows_go_to_their_own_tables() -> None:
    clickhouse = FakeClickHouse()
    sink = Sink("metrics", BY_NAME["metrics"].decoder, clickhouse.insert)
    sink.add(columnar.encode([
        ScopeMetrics(snapshot_id="s", taken_at=T, scope_kind="company", scope="", employees=1,
                     naive_reach=2, distinct_accounts=2, distinct_persons=2, estimated_persons=2.0,
                     ci_low=2.0, ci_high=2.0)]))  # fmt: skip
    sink.add(columnar.encode([
        CoveragePoint(snapshot_id="s", taken_at=T, rank=1, employee_id="e", new_persons=2,
                      cumulative_persons=2, cumulative_share=1.0)]))  # fmt: skip
    asyncio.run(sink.submit())
    assert sorted(clickhouse.rows) == ["community_scopes", "coverage_curve"]


def test_a_message_that_does_not_decode_becomes_a_dead_letter_and_the_rest_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clickhouse = FakeClickHouse()
    sink = make_sink(clickhouse, Clock())
    sink.add(follows(1, 2), "chorus.follows", 0, 41)
    sink.add(b'{"event_id": 7}', "chorus.follows", 0, 42)
    sink.add(follows(3), "chorus.follows", 0, 43)
    asyncio.run(sink.submit())
    assert clickhouse.event_ids() == ["f1", "f2", "f3"]
    [letter] = clickhouse.rows["dead_letters"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("chorus.follows", 0, 42)
    assert (letter["reason"], letter["raw"]) == (SINK_DECODE, '{"event_id": 7}')
    assert (letter["size"], len(letter["digest"])) == (len(b'{"event_id": 7}'), 32)
    assert letter["message"] == "Expected `array`, got `int` - at `$.event_id`"
    assert "chorus.follows[0]@42 does not decode" in caplog.text


def test_one_bad_record_is_a_dead_letter_alone_and_analysts_see_no_raw_id() -> None:
    clickhouse = FakeClickHouse()
    sink = make_sink(clickhouse, Clock())
    bad = follows(4, 5, 7).replace(b'"f5"', b'""')
    sink.add(bad, "chorus.follows", 1, 8)
    sink.add(follows(6), "chorus.follows", 1, 9)
    asyncio.run(sink.submit())
    assert clickhouse.event_ids() == ["f4", "f7", "f6"]
    [letter] = clickhouse.rows["dead_letters"]  # one per message: the table's key is its position
    assert letter["offset"] == 8 and letter["message"].startswith("1 of 3 records do not decode")
    assert json.loads(letter["raw"]) == {
        "type": "follow", "event_id": [""], "occurred_at": [json.loads(letter["raw"])["occurred_at"][0]],
        "network": ["x"], "account_id": ["@a"], "follower_id": "[redacted]", "action": ["follow"],
    }  # fmt: skip


def test_while_clickhouse_is_down_submit_retries_with_growing_jittered_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clickhouse, clock = FakeClickHouse(failures=12), Clock()
    sink = make_sink(clickhouse, clock)
    for i in range(5):
        sink.add(follows(i))
    with caplog.at_level(logging.INFO, logger="pipeline.sink"):
        assert asyncio.run(sink.submit()) == 5
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
        def insert(self, table: Table, columns: Block) -> None:
            if table.name == "dead_letters" and self.failures:
                self.failures -= 1
                raise NetworkError("down")
            super().insert(table, columns)

    clickhouse = FailSecondTable(failures=2)
    sink = make_sink(clickhouse, Clock())
    sink.add(follows(1))
    sink.add(b"not json", "t", 0, 1)
    asyncio.run(sink.submit())
    assert len(clickhouse.rows["follows"]) == 1
    assert len(clickhouse.rows["dead_letters"]) == 1


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(initial=1.0, cap=30.0, rng=random.Random(1))
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)):
        assert ceiling / 2 <= backoff.delay(attempt) <= ceiling
    assert len({backoff.delay(3) for _ in range(10)}) > 1


def test_while_clickhouse_is_down_submit_does_not_return_and_nothing_is_acked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clickhouse = FakeClickHouse(failures=10**9)
    sink = Sink("follows", BatchDecoder(Follow), clickhouse.insert,
                backoff=Backoff(initial=0.001, cap=0.001))  # fmt: skip
    acked: list[int] = []

    async def ack() -> None:
        acked.append(1)

    async def run() -> None:
        sink.add(follows(1))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sink.submit(ack), 0.3)  # the caller reads nothing meanwhile

    with caplog.at_level(logging.INFO, logger="pipeline.sink"):
        asyncio.run(run())
    assert clickhouse.calls > 1 and acked == [] and clickhouse.rows == {}
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_an_error_that_is_not_an_outage_reaches_the_caller_and_nothing_is_acked() -> None:
    class Broken(FakeClickHouse):
        def insert(self, table: Table, columns: Block) -> None:
            raise TypeError("a column the driver cannot send")

    sink = make_sink(Broken(), Clock())
    acked: list[int] = []

    async def ack() -> None:
        acked.append(1)

    async def run() -> None:
        sink.add(follows(1))
        await sink.submit(ack)
        sink.add(follows(2))
        await sink.submit(ack)

    with pytest.raises(TypeError):
        asyncio.run(run())
    assert acked == []
