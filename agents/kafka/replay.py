"""Rebuilding an in-memory state by reading a kept-for-ever topic from its start.

The audience graph and the spike detector live in memory; their input topics
are kept for ever (`pipeline.topology`), and re-reading them with a plain
consumer (no group, big fetches, whole micro-batches) is much cheaper than
through faust's stream. Nothing here commits: the agents go on from their
group's committed offsets afterwards, and what they see twice is harmless
(the graph applies assignments; the detector is rebuilt only up to the first
offset its agent was given).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from agents.kafka.records import records_of
from pipeline.topology import MAX_MESSAGE_BYTES
from schemas.columnar import BatchDecoder

if TYPE_CHECKING:
    from pipeline.settings import Settings

T = TypeVar("T", bound=msgspec.Struct)


async def replay(
    settings: Settings,
    topic: str,
    decoder: BatchDecoder[T],
    apply: Callable[[list[T]], object],
    until: int | None = None,
) -> int:
    """Feed `apply` every record of a one-partition topic, from its start to offset `until`.

    `until` is exclusive; None: the end at the time of the call. How agents
    that keep a state in memory get it back after a restart: their topics are
    kept for ever and re-reading them is cheap with a plain consumer (no group,
    big fetches, micro-batches). `apply` gets the records of one message at a
    time. Returns how many records were applied.
    """
    applied = 0
    async for message in read_whole(settings, topic, until):
        records = records_of(decoder, message.value, topic, 0, message.offset)
        apply(records)
        applied += len(records)
        await asyncio.sleep(0)  # the worker's other agents go on meanwhile
    return applied


async def read_whole(
    settings: Settings, topic: str, until: int | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every message of a one-partition topic from its start to offset `until` (None: its end now)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        # Data waiting is sent at once whatever this says; it is how long the first seek
        # waits for the fetcher (the default 500 ms made an empty graph take 2.5 s to build).
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition] if until is None else until
        while await consumer.position(partition) < end:
            fetched = await consumer.getmany(partition, timeout_ms=1000, max_records=2000)
            for message in fetched.get(partition, ()):
                if message.offset >= end:
                    return
                yield message
    finally:
        await consumer.stop()
