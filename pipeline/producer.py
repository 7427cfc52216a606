"""Produce lines of bytes to a Kafka topic, with progress: `chorus ingest` and `chorus simulate --to-kafka`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafka import KafkaProducer

from pipeline.ingest import raw_key
from pipeline.settings import Settings


def produce(
    settings: Settings,
    values: Iterable[bytes],
    topic: str | None = None,
    progress: Callable[[int], None] | None = None,
    every: int = 10_000,
    key: Callable[[bytes], bytes | None] = raw_key,
) -> int:
    """Send every value to `topic` (default: chorus.raw); returns how many were sent.

    Each value is keyed with `key` (default: the raw-event key that keeps
    related events in order, `pipeline.ingest.raw_key`). Raises if the broker
    refused any of them: `flush` waits for every delivery and a failed future
    re-raises.
    """
    target = topic or settings.topic("raw")
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        linger_ms=20,
        batch_size=256 * 1024,
        acks="all",
    )
    sent = 0
    pending = []
    try:
        for value in values:
            pending.append(producer.send(target, value, key=key(value)))
            sent += 1
            if sent % every == 0:
                producer.flush()
                for future in pending:
                    future.get()
                pending.clear()
                if progress is not None:
                    progress(sent)
        producer.flush()
        for future in pending:
            future.get()
    finally:
        producer.close()
    if progress is not None:
        progress(sent)
    return sent
