"""Ingest on the real broker: a file through `chorus ingest` and the worker lands exactly where it should."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pipeline.topology import BY_NAME
from tests.support import Worker, topic_records, wait_for
from tests.test_ingest import VALID, event

ROUTE_OF = {
    "employee": "employees",
    "post": "posts",
    "follow": "follows",
    "identity_link": "identity",
    "engagement": "engagement",
    "account_stats": "account_stats",
}
INVALID = [
    b"not json",
    b"\xff\xfe\xfd",
    b'{"type": "poke", "event_id": "x", "occurred_at": "2026-01-01T00:00:00Z"}',
    json.dumps({**event("follow"), "follower_id": 7}).encode(),
    json.dumps({**event("account_stats"), "followers_count": -5}).encode(),
    json.dumps({**event("identity_link"), "confidence": 1.5}).encode(),
    json.dumps({**event("follow"), "occurred_at": "2099-01-01T00:00:00Z"}).encode(),
]


@pytest.mark.kafka
def test_a_file_through_ingest_and_the_worker(
    kafka_bootstrap: str, worker_factory: Any, tmp_path: Path
) -> None:
    per_type = 5
    lines: list[bytes] = []
    for kind in VALID:
        for i in range(per_type):
            lines.append(json.dumps(event(kind, event_id=f"{kind}-{i}")).encode())
    lines.extend(INVALID)
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    worker: Worker = worker_factory()
    worker.start()
    env = {**os.environ, **worker.env}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", str(source)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"{len(lines)} events sent" in result.stdout

    settings = worker.settings
    expected = {settings.topic(route): per_type for route in ROUTE_OF.values()}
    expected[settings.topic("dlq")] = len(INVALID)

    def counts() -> dict[str, int]:
        return {
            settings.topic(route): len(
                topic_records(kafka_bootstrap, settings.topic(route), BY_NAME[route].decoder, 1000)
            )
            for route in [*ROUTE_OF.values(), "dlq"]
        }

    wait_for(
        lambda: counts() == expected,
        timeout=60,
        what=f"typed topics and dead letters to hold {expected}",
    )

    letters = topic_records(kafka_bootstrap, settings.topic("dlq"), BY_NAME["dlq"].decoder)
    assert sorted(letter.raw for letter in letters) == sorted(INVALID)
    assert {letter.topic for letter in letters} == {settings.topic("raw")}
    assert all(letter.reason and letter.message for letter in letters)

    # No raw third-party id in any typed topic.
    for route in ROUTE_OF.values():
        records = topic_records(kafka_bootstrap, settings.topic(route), BY_NAME[route].decoder)
        payload = b"".join(map(msgspec.json.encode, records))
        for secret in (b'"bob"', b'"carol"', b'"dave"', b"bob@social"):
            assert secret not in payload
