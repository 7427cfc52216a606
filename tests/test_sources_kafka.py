"""The connectors' Kafka side on the real broker: checkpoints that survive, events keyed like every producer's."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from agents.kafka.admin import declare_topics
from agents.kafka.connectors import PART_BYTES, open_connector_io
from agents.kafka.producer import partition_of
from pipeline.ingest import raw_key
from pipeline.settings import Settings
from schemas.events import Follow, encoder


@pytest.mark.kafka
def test_checkpoints_survive_a_restart_whole_and_in_parts(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    declare_topics(namespace)
    big = os.urandom(PART_BYTES * 2 + 123)  # random: does not compress, three parts
    bigger = os.urandom(PART_BYTES * 3)

    async def first() -> None:
        producer, _, checkpoints = await open_connector_io(namespace)
        try:
            await checkpoints.put("mastodon/statuses/a", b"113")
            await checkpoints.put("mastodon/followers/a", big)
            await checkpoints.put("gone", b"x")
            await checkpoints.put("gone", None)
            await checkpoints.put("mastodon/followers/b", big)
            await checkpoints.put("mastodon/followers/b", bigger)  # the first parts are deleted
        finally:
            await producer.stop()

    async def second() -> dict[str, bytes | None]:
        producer, _, checkpoints = await open_connector_io(namespace)
        try:
            keys = ["mastodon/statuses/a", "mastodon/followers/a", "gone", "mastodon/followers/b"]
            stored = {key: checkpoints.get(key) for key in keys}
            stored["parts of b"] = b"%d" % sum(
                key.startswith("mastodon/followers/b#") for key in checkpoints._values
            )
            return stored
        finally:
            await producer.stop()

    asyncio.run(first())
    assert asyncio.run(second()) == {
        "mastodon/statuses/a": b"113",
        "mastodon/followers/a": big,
        "gone": None,
        "mastodon/followers/b": bigger,
        "parts of b": b"3",
    }


@pytest.mark.kafka
def test_events_go_to_raw_keyed_and_partitioned_like_every_producer(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    declare_topics(namespace)
    follows = [
        Follow(
            event_id=f"mastodon:follow:{i}",
            occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
            network="mastodon",
            account_id="alice@example.social",
            follower_id=f"f{i}@example.social",
            action="follow",
        )
        for i in range(50)
    ]

    async def go() -> list[tuple[int, bytes | None, bytes]]:
        producer, output, _ = await open_connector_io(namespace)
        try:
            await output.send(follows)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            namespace.topic("raw"),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            got: list[tuple[int, bytes | None, bytes]] = []
            while len(got) < len(follows):
                batches = await consumer.getmany(timeout_ms=2000)
                got += [(m.partition, m.key, m.value) for ms in batches.values() for m in ms]
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(go())
    assert sorted(value for _, _, value in got) == sorted(encoder.encode(f) for f in follows)
    for partition, key, value in got:
        assert key == raw_key(value)
        assert key is not None and partition == partition_of(key, namespace.partitions)
