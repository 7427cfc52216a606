"""A hostile corpus on chorus.raw of a running worker: nothing valid is lost, nothing stalls, no raw id leaks.

Valid events go in before, among and after inputs of every hostile kind the
hardening audit measured: invalid UTF-8 in an unknown field, nesting a
thousand deep, a timestamp at the calendar's edge, names that grow when
normalised, a 2 MiB message, a rejected one of 900 KB, a follower sample
whose typed record is over 1 MB, a post that made the policy scan quadratic,
raw third-party ids in rejected events, garbage. Every valid event must be
in ClickHouse exactly once, every rejected input a dead letter with its
reason, every partition processed to its end, the worker alive, and no raw
third-party id readable by the analyst.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.kafka.producer import produce
from pipeline import warehouse
from tests.support import Worker
from tests.test_e2e import wait_until_processed

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SECRET = "RAWSECRET"  # a third party's raw id: analysts must never read it


def _event(type_: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": event_id, "occurred_at": T0.isoformat(), **fields}


def follow(i: int, **changes: Any) -> dict[str, Any]:
    fields = {"network": "x", "account_id": "@ada", "follower_id": f"f{i}", "action": "follow"}
    return _event("follow", f"follow-{i}", **{**fields, **changes})


def post(i: int, text: str = "Proud of the team today.") -> dict[str, Any]:
    fields = {"post_id": f"p{i}", "employee_id": "ada", "network": "x", "account_id": "@ada"}
    return _event("post", f"post-{i}", text=text, **fields)


def engagement(i: int, **changes: Any) -> dict[str, Any]:
    fields = {"post_id": "p0", "network": "x", "actor_id": f"a{i}", "kind": "like"}
    return _event("engagement", f"eng-{i}", **{**fields, **changes})


def raw(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def corpus() -> tuple[list[bytes], dict[str, set[str]], Counter[str]]:
    """The lines to send, the event ids each table must hold, and the dead letters' reasons."""
    valid_before = [follow(i) for i in range(20)] + [post(i) for i in range(5)]
    valid_before += [engagement(i) for i in range(10)]
    accepted_hostile = [
        # Unknown fields are ignored, however hostile their values.
        raw(follow(100))[:-1] + b', "big": ' + b"9" * 5000 + b"}",
        # A sample whose typed record is larger than the broker's default message limit.
        raw(
            _event(
                "account_stats",
                "stats-1",
                network="instagram",
                account_id="@ada_ig",
                followers_count=90_000,
                follower_sample=[f"{i:030d}" for i in range(30_000)],
            )
        ),
        # A competitor and an insult repeated to the length limit: the scan must stay linear.
        raw(post(100, ("Rivalcorp idiots " * 2400)[:40_000])),
        raw(post(101, "x" * 39_999 + "@")),
    ]
    follow_line = raw(follow(200))
    rejected: list[tuple[bytes, str]] = [
        (b'{"note": "\xff", ' + follow_line[1:], "invalid_utf8"),
        (follow_line[:-1] + b', "nest": ' + b"[" * 1000 + b"]" * 1000 + b"}", "invalid_value"),
        (raw(follow(201, occurred_at="0001-01-01T00:00:00+01:00")), "invalid_value"),
        (raw(follow(202, network="İ" * 64)), "invalid_value"),
        (raw(post(203, "שּׁ" * 40_000)), "invalid_value"),
        (raw(post(204, "x" * 900_000)), "invalid_value"),
        (b'{"pad": "' + b"x" * (2 << 20) + b'"}', "too_large"),
        (raw(follow(205, follower_id=f"{SECRET}-1", action="like")), "invalid_value"),
        (raw(engagement(206, actor_id=f"{SECRET}-2", kind="poke")), "invalid_value"),
        (raw(_event("poke", "poke-1", follower_id=f"{SECRET}-3")), "unknown_type"),
        (b"\x00\x01 garbage", "not_json"),
        (b"", "not_json"),
        (raw(follow(207))[:-1] + b', "x": NaN}', "not_json"),
        (b'{"event_id": "twice", ' + raw(follow(208))[1:], "duplicate_key"),
    ]
    valid_after = [follow(i) for i in range(300, 320)]
    lines = [raw(e) for e in valid_before]
    for accepted, (line, _) in zip(accepted_hostile + [b""] * 10, rejected, strict=False):
        lines += [accepted, line] if accepted else [line]
    lines += [raw(e) for e in valid_after]
    expected = {
        "follows": {f"follow-{i}" for i in [*range(20), 100, *range(300, 320)]},
        "posts": {f"post-{i}" for i in [*range(5), 100, 101]},
        "engagements": {f"eng-{i}" for i in range(10)},
        "account_stats": {"stats-1"},
    }
    return lines, expected, Counter(reason for _, reason in rejected)


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_a_hostile_corpus_loses_no_valid_event_and_stalls_nothing(
    worker_factory: Callable[..., Worker],
) -> None:
    lines, expected, reasons = corpus()
    worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="2")
    warehouse.migrator(worker.settings).migrate()
    worker.start()
    produce(worker.settings, lines)
    wait_until_processed(
        worker.settings, watched=[worker]
    )  # every partition of every topic to its end
    assert worker.process is not None and worker.process.poll() is None, worker.log_excerpt()

    client = warehouse.client(worker.settings)
    try:
        for table, ids in expected.items():
            rows = client.execute(f"SELECT event_id FROM {table} FINAL")  # replays collapsed
            assert Counter(event_id for (event_id,) in rows) == Counter(ids), table
        letters = client.execute("SELECT reason, size, digest FROM dead_letters FINAL")
        assert Counter(reason for reason, _, _ in letters) == reasons
        assert all(size > 0 or reason == "not_json" for reason, size, _ in letters)
        assert len({digest for _, _, digest in letters}) == len(letters)
    finally:
        client.disconnect()

    analyst = warehouse.client(
        dataclasses.replace(
            worker.settings, clickhouse_user="analyst", clickhouse_password="analyst"
        )
    )
    try:
        for table in ("dead_letters", "follows", "engagements", "account_stats"):
            leaked = analyst.execute(
                f"SELECT count() FROM {table} WHERE positionCaseInsensitive(toString(tuple(*)), %(s)s) > 0",
                {"s": SECRET},
            )
            assert leaked == [(0,)], table
    finally:
        analyst.disconnect()
    warehouse.drop_database(worker.settings)
