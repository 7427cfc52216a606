"""Produce lines of bytes to a Kafka topic, with progress: `chorus ingest` and `chorus simulate --to-kafka`.

Records are appended to aiokafka record batches, one per partition, rather
than sent one by one: a few microseconds a record instead of tens, so a
simulated company of a million events is on the broker in seconds.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from pipeline.ingest import raw_key
from pipeline.settings import Settings
from pipeline.topology import MAX_MESSAGE_BYTES


def produce(
    settings: Settings,
    values: Iterable[bytes],
    topic: str | None = None,
    progress: Callable[[int], None] | None = None,
    every: int = 50_000,
    key: Callable[[bytes], bytes | None] = raw_key,
) -> int:
    """Send every value to `topic` (default: chorus.raw); returns how many were sent.

    Each value is keyed with `key` (default: the raw-event key that keeps
    related events in order, `pipeline.ingest.raw_key`); one key always goes
    to one partition. Returns once the broker has acknowledged every record;
    raises if it refused any.
    """
    return asyncio.run(
        _produce(settings, values, topic or settings.topic("raw"), progress, every, key)
    )


async def _produce(
    settings: Settings,
    values: Iterable[bytes],
    topic: str,
    progress: Callable[[int], None] | None,
    every: int,
    key_of: Callable[[bytes], bytes | None],
) -> int:
    producer = open_producer(settings)
    await producer.start()
    try:
        partitions = len(await producer.partitions_for(topic))
        deliveries: list[asyncio.Future[object]] = []
        sent = reported = 0
        for partition, batch in record_batches(producer, partitions, values, key_of):
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            sent += batch.record_count()
            if sent // every > reported // every:
                await asyncio.gather(*deliveries)
                deliveries.clear()
                reported = sent
                if progress is not None:
                    progress(sent)
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    if progress is not None:
        progress(sent)
    return sent


def open_producer(settings: Settings, *, linger_ms: int = 20, **options: Any) -> AIOKafkaProducer:
    """A producer that writes each record once and in order (start it before use)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES + (64 << 10),  # a message and its batch's overhead
        linger_ms=linger_ms,
        **options,
    )


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of a keyed record: every Chorus producer agrees, so one key keeps its order."""
    return zlib.crc32(key) % partitions


def record_batches(
    producer: AIOKafkaProducer,
    partitions: int,
    values: Iterable[bytes],
    key_of: Callable[[bytes], bytes | None],
) -> Iterator[tuple[int, BatchBuilder]]:
    """`values` in record batches for `producer.send_batch`, each with its partition.

    A batch comes out once full, the partly filled ones at the end; a
    partition's values keep their order. One key always goes to one partition.
    """
    batches = [producer.create_batch() for _ in range(partitions)]
    spread = 0  # partition of values without a key: round robin
    for value in values:
        key = key_of(value)
        if key is None:
            partition = spread = (spread + 1) % partitions
        else:
            partition = partition_of(key, partitions)
        while batches[partition].append(key=key, value=value, timestamp=None) is None:
            yield partition, batches[partition]
            batches[partition] = producer.create_batch()
    for partition, batch in enumerate(batches):
        if batch.record_count():
            yield partition, batch
