"""Produce lines of bytes to a Kafka topic, with progress: `chorus ingest` and `chorus simulate --to-kafka`.

Records are appended to aiokafka record batches, one per partition, rather
than sent one by one: a few microseconds a record instead of tens, so a
simulated company of a million events is on the broker in seconds.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaProducer

from pipeline.ingest import raw_key
from pipeline.settings import Settings


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
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        acks="all",
        enable_idempotence=True,
        max_request_size=4 << 20,
        linger_ms=20,
    )
    await producer.start()
    try:
        partitions = len(await producer.partitions_for(topic))
        batches = [producer.create_batch() for _ in range(partitions)]
        deliveries: list[asyncio.Future[object]] = []
        sent = 0
        spread = 0  # partition of values without a key: round robin
        for value in values:
            key = key_of(value)
            if key is None:
                partition = spread = (spread + 1) % partitions
            else:
                partition = zlib.crc32(key) % partitions
            while batches[partition].append(key=key, value=value, timestamp=None) is None:
                deliveries.append(
                    await producer.send_batch(batches[partition], topic, partition=partition)
                )
                batches[partition] = producer.create_batch()
            sent += 1
            if sent % every == 0:
                await asyncio.gather(*deliveries)
                deliveries.clear()
                if progress is not None:
                    progress(sent)
        for partition, batch in enumerate(batches):
            if batch.record_count():
                deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    if progress is not None:
        progress(sent)
    return sent
