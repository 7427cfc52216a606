"""Faust agents: each wires Chorus topics to the plain logic in `pipeline/`.

`pipeline/app.py` registers them all; read it first.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

import faust
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import EventT

from pipeline.observability import RECORDS_IN, RECORDS_OUT

if TYPE_CHECKING:
    from pipeline.settings import Settings

T = TypeVar("T")


def batches(
    stream: faust.StreamT, settings: Settings, max_messages: int | None = None
) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events that are acked only when the agent says so.

    faust's `take()` acks in a `finally`, so a failed write would still move
    the offset; with `noack_take` the agent acks (`stream.ack(event)`) after
    its output is safely written.
    """
    return cast(faust.Stream, stream).noack_take(
        max_messages or settings.batch_rows, within=settings.batch_seconds
    )


class KafkaOutput:
    """Writes an agent's results to Chorus topics as micro-batches.

    faust spends tens of microseconds on every message it delivers, more than
    the work Chorus does per event, so the topics written here carry batches:
    one Kafka message holds up to `max_records` records of one partition, as
    newline-delimited JSON (msgspec never writes a raw newline inside a
    record). Downstream agents pay faust's cost once per batch and decode it
    with `Decoder.decode_lines`. Order per key holds: a key always maps to the
    same partition (`crc32(key) % partitions`; Chorus alone writes these
    topics) and batches keep the order of `add`.

    The agent calls `add` for each result, then `flush`, which returns once
    the broker has every batch (raising if it refused one); only then does the
    agent ack its input.
    """

    def __init__(
        self, settings: Settings, max_records: int = 1000, max_bytes: int = 512 * 1024
    ) -> None:
        self.settings = settings
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}

    async def _start(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers,
                **self.settings.kafka_options(),
                acks="all",
                enable_idempotence=True,
                max_request_size=4 << 20,
                linger_ms=5,
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        partitions = self._partitions.get(topic)
        if partitions is None:
            producer = await self._start()
            partitions = self._partitions[topic] = len(await producer.partitions_for(topic))
        partition = 0 if partitions == 1 or key is None else zlib.crc32(key) % partitions
        self._pending.setdefault((topic, partition), []).append(value)

    async def flush(self) -> None:
        if not self._pending:
            return
        producer = await self._start()
        deliveries = []
        for (topic, partition), records in self._pending.items():
            RECORDS_OUT.labels(topic).inc(len(records))
            for chunk in self._chunks(records):
                deliveries.append(
                    await producer.send(topic, b"\n".join(chunk), partition=partition)
                )
        self._pending.clear()
        await asyncio.gather(*deliveries)

    def _chunks(self, records: list[bytes]) -> Iterator[list[bytes]]:
        chunk: list[bytes] = []
        size = 0
        for record in records:
            if chunk and (len(chunk) >= self.max_records or size + len(record) > self.max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(record)
            size += len(record) + 1
        if chunk:
            yield chunk

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def replay(
    settings: Settings,
    topic: str,
    decoder: msgspec.json.Decoder[T],
    apply: Callable[[T], object],
    until: int | None = None,
) -> int:
    """Feed `apply` every record of a one-partition topic, from its start to offset `until`.

    `until` is exclusive; None: the end at the time of the call. How agents
    that keep a state in memory get it back after a restart: their topics are
    kept for ever and re-reading them is cheap with a plain consumer (no group,
    big fetches, micro-batches). Returns how many records were applied.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    applied = 0
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition] if until is None else until
        while await consumer.position(partition) < end:
            fetched = await consumer.getmany(partition, timeout_ms=1000, max_records=2000)
            for message in fetched.get(partition, ()):
                if message.offset >= end:
                    break
                for record in decoder.decode_lines(message.value or b""):
                    apply(record)
                    applied += 1
    finally:
        await consumer.stop()
    return applied


def payloads(events: Sequence[EventT]) -> Iterator[tuple[EventT, bytes]]:
    """The records of a batch of micro-batch messages (see `KafkaOutput`), with their message."""
    for event in events:
        records = [record for record in (event.message.value or b"").split(b"\n") if record]
        RECORDS_IN.labels(event.message.topic).inc(len(records))
        for record in records:
            yield event, record
