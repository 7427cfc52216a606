"""Ingest on the real broker: a file through `chorus ingest` and the worker lands exactly where it should."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from schemas.dead_letter import decoder as dead_letter_decoder
from tests.support import Worker, topic_counts, wait_for
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
    wait_for(
        lambda: topic_counts(kafka_bootstrap, list(expected)) == expected,
        timeout=60,
        what=f"typed topics and dead letters to hold {expected}",
    )

    consumer = KafkaConsumer(
        settings.topic("dlq"),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters = [dead_letter_decoder.decode(message.value) for message in consumer]
    consumer.close()
    assert sorted(letter.raw for letter in letters) == sorted(INVALID)
    assert {letter.topic for letter in letters} == {settings.topic("raw")}
    assert all(letter.reason and letter.message for letter in letters)

    # No raw third-party id in any typed topic.
    for route in ROUTE_OF.values():
        consumer = KafkaConsumer(
            settings.topic(route),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=3000,
        )
        payload = b"".join(message.value for message in consumer)
        consumer.close()
        for secret in (b'"bob"', b'"carol"', b'"dave"', b"bob@social"):
            assert secret not in payload
