"""Faust agents: each wires Chorus topics to the plain logic in `pipeline/`.

`pipeline/app.py` registers them all; read it first.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

import aiokafka.errors
import faust
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP, AppT, EventT
from kafka.errors import KafkaError

from pipeline.lag import LagProbe
from pipeline.observability import RECORDS_IN, RECORDS_OUT, REREADS
from pipeline.offsets import OffsetLedger, Verdict
from pipeline.producer import open_producer
from schemas import columnar
from schemas.columnar import BatchDecoder

if TYPE_CHECKING:
    from pipeline.settings import Settings

T = TypeVar("T", bound=msgspec.Struct)

log = logging.getLogger(__name__)


class Batch(list[EventT]):
    """Events taken from a stream, each partition's in offset order; `ack` them once written."""

    def __init__(self, events: list[EventT], order: InOrder) -> None:
        super().__init__(events)
        self.order = order

    async def ack(self, events: Sequence[EventT] | None = None) -> None:
        """Ack `events` (default: the whole batch), and the later deliveries of their offsets."""
        await self.order.ack(self if events is None else events)


async def batches(
    stream: faust.StreamT, settings: Settings, max_messages: int | None = None
) -> AsyncIterator[Batch]:
    """Batches of events that are acked only when the agent says so, with no offset skipped.

    faust's `take()` acks in a `finally`, so a failed write would still move
    the offset; with `noack_take` the agent acks (`batch.ack()`) after its
    output is safely written. `InOrder` passes on each partition's offsets
    strictly in order and reads a partition again when some were skipped.
    """
    order = InOrder(stream, settings)
    taken: Sequence[EventT]
    try:
        async for taken in cast(faust.Stream, stream).noack_take(
            max_messages or settings.batch_rows, within=settings.batch_seconds
        ):
            events = await order.admit(taken)
            if events:
                yield Batch(events, order)
    finally:
        order.close()


class InOrder:
    """Wires `pipeline.offsets.OffsetLedger` to one agent's stream (see there for why)."""

    def __init__(self, stream: faust.StreamT, settings: Settings) -> None:
        self.stream = stream
        self.app = stream.app
        self.resume_offsets = _resume_offsets.setdefault(self.app, ResumeOffsets(settings))
        self.ledger: OffsetLedger[TP, EventT] = OffsetLedger()
        self.generation = self.app.consumer_generation_id
        self.watch: asyncio.Future[None] | None = None  # seeks again while a gap stays open

    async def admit(self, taken: Sequence[EventT]) -> list[EventT]:
        if self.app.consumer_generation_id != self.generation:
            # A rebalance: faust sought every partition to its committed offset.
            self.ledger.forget()
            self.generation = self.app.consumer_generation_id
        unknown = {event.message.tp for event in taken} - self.ledger.expected.keys()
        for tp, offset in (await self.resume_offsets(unknown)).items():
            self.ledger.start(tp, offset)
        admitted: list[EventT] = []
        gaps: dict[TP, int] = {}
        for event in taken:
            message = event.message
            verdict = self.ledger.admit(message.tp, message.offset)
            if verdict is Verdict.NEXT:
                admitted.append(event)
            elif verdict is Verdict.SEEN:
                if not self.ledger.ride(message.tp, message.offset, event):
                    await self.stream.ack(event)
            else:
                gaps[message.tp] = max(message.offset, gaps.get(message.tp, -1))
        for tp, offset in gaps.items():
            # Not if later deliveries of the batch filled the gap (after an earlier seek).
            if offset >= self.ledger.expected[tp] and self.ledger.seek_due(tp):
                await self._reread(tp, f"offset {offset} delivered while {{}} was expected")
        if self.ledger.seeks and (self.watch is None or self.watch.done()):
            self.watch = asyncio.ensure_future(self._seek_while_gaps_open())
        return admitted

    async def ack(self, events: Sequence[EventT]) -> None:
        for event in events:
            await self.stream.ack(event)
            for rider in self.ledger.done(event.message.tp, event.message.offset):
                await self.stream.ack(rider)

    def close(self) -> None:
        if self.watch is not None:
            self.watch.cancel()

    async def _seek_while_gaps_open(self) -> None:
        """Seek again where a seek did not fill the gap (`OffsetLedger.seeks_due_again`)."""
        while self.ledger.seeks:
            await asyncio.sleep(self.ledger.reseek_seconds)
            if self.app.consumer_generation_id != self.generation:
                return  # a rebalance: faust sought every partition to its commit
            due = self.ledger.seeks_due_again()
            if not due:
                continue
            try:
                ends = await self.app.consumer.highwaters(*due)
            except (aiokafka.errors.KafkaError, OSError):
                ends = {}  # the broker does not answer: seek anyway, the seek needs no broker
            if self.app.consumer_generation_id != self.generation:
                return
            for tp in due:
                if tp not in self.ledger.seeks:
                    continue  # the offset came meanwhile
                if tp not in ends or not self.ledger.gap_closed(tp, ends[tp]):
                    await self._reread(tp, "offset {} still not delivered")

    async def _reread(self, tp: TP, why: str) -> None:
        """Seek the partition to its expected offset; `why` has a {} for that offset."""
        resume = (await self.resume_offsets({tp}))[tp]
        expected = self.ledger.raise_to(tp, resume)  # above it only if retention deleted records
        REREADS.labels(tp.topic).inc()
        log.warning(
            "%s[%d]: %s; reading the partition again from %d",
            *(tp.topic, tp.partition, why.format(expected), expected),
        )
        try:
            # In the consumer's thread: a seek from this one raced its fetcher (KeyError, a crash).
            await self.app.consumer.seek_wait({tp: expected})
        except (aiokafka.errors.KafkaError, TimeoutError) as exc:
            log.warning("%s[%d]: seeking failed (%r); trying again", tp.topic, tp.partition, exc)


class ResumeOffsets:
    """The consumer group's resume offsets, from the broker; waits while it does not answer.

    One per worker (`_resume_offsets`): one broker client, used in turn, since
    kafka-python clients are not thread-safe.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.probe: LagProbe | None = None
        self.lock = asyncio.Lock()

    async def __call__(self, partitions: set[TP]) -> dict[TP, int]:
        if not partitions:
            return {}
        async with self.lock:
            while True:
                try:
                    if self.probe is None:
                        self.probe = await asyncio.to_thread(LagProbe, self.settings, [])
                    return await asyncio.to_thread(self.probe.resume_offsets, partitions)
                except (KafkaError, OSError) as exc:
                    log.warning("resume offsets unavailable (%s); retrying", exc)
                    await asyncio.sleep(1.0)


_resume_offsets: weakref.WeakKeyDictionary[AppT, ResumeOffsets] = weakref.WeakKeyDictionary()


class KafkaOutput:
    """Writes an agent's results to Chorus topics as micro-batches.

    faust spends tens of microseconds on every message it delivers, more than
    the work Chorus does per event, so the topics written here carry batches:
    one Kafka message holds up to `max_records` records of one partition and
    one type, as columns (`schemas.columnar`), and at most `max_bytes` unless
    it is a single record. Downstream agents pay faust's cost once per batch
    and decode it with a `BatchDecoder`. Order per key holds: a key always
    maps to the same partition (`crc32(key) % partitions`; Chorus alone writes
    these topics) and messages keep the order of `add`.

    The agent calls `add` for each result, then `flush`, which returns once
    the broker has every batch (raising if it refused one); only then does the
    agent ack its input. `send` is `flush` without the wait: it hands the
    batches to the producer and returns what to await, so that an agent can
    work on its next input while the broker confirms this one.
    """

    def __init__(
        self, settings: Settings, max_records: int = 1000, max_bytes: int = 512 * 1024
    ) -> None:
        self.settings = settings
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}
        # topic -> (key, record)
        self._pending: dict[str, list[tuple[bytes | None, msgspec.Struct]]] = {}
        self._sending = asyncio.Lock()
        self._handed: asyncio.Future[list[object]] | None = None  # what `send` handed over last

    async def _start(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = open_producer(self.settings, linger_ms=5)
            await producer.start()
            self._producer = producer
        return self._producer

    def add(self, topic: str, key: bytes | None, record: msgspec.Struct) -> None:
        """Buffer one record for `topic` until the next `send` or `flush`."""
        self._pending.setdefault(topic, []).append((key, record))

    async def flush(self) -> None:
        await (await self.send())

    async def send(self) -> Awaitable[object]:
        """Hand what was added to the producer.

        The result completes once the broker has it all, and all that any
        earlier `send` handed over: agents and timers of one worker may share
        an output, so what one added may go out with another's `send`.
        """
        async with self._sending:
            pending, self._pending = self._pending, {}
            if not pending:
                handed = self._handed
                # A failure of an earlier send is its own caller's to see.
                return handed if handed is not None and not handed.done() else asyncio.gather()
            producer = await self._start()
            deliveries = [] if self._handed is None or self._handed.done() else [self._handed]
            for topic, records in pending.items():
                RECORDS_OUT.labels(topic).inc(len(records))
                for partition, of_partition in (await self._by_partition(topic, records)).items():
                    for message in self._messages(of_partition):
                        deliveries.append(await producer.send(topic, message, partition=partition))
            self._handed = asyncio.gather(*deliveries)
            return self._handed

    async def _by_partition(
        self, topic: str, records: list[tuple[bytes | None, msgspec.Struct]]
    ) -> dict[int, list[msgspec.Struct]]:
        partitions = self._partitions.get(topic)
        if partitions is None:
            producer = await self._start()
            partitions = self._partitions[topic] = len(await producer.partitions_for(topic))
        by_partition: dict[int, list[msgspec.Struct]] = {}
        for key, record in records:
            partition = 0 if partitions == 1 or key is None else zlib.crc32(key) % partitions
            by_partition.setdefault(partition, []).append(record)
        return by_partition

    def _messages(self, records: list[msgspec.Struct]) -> Iterator[bytes]:
        """The records as messages: runs of one type, up to `max_records` each, in order."""
        for _, run in itertools.groupby(records, type):
            of_type = list(run)
            for start in range(0, len(of_type), self.max_records):
                yield from self._encoded(of_type[start : start + self.max_records])

    def _encoded(self, records: list[msgspec.Struct]) -> Iterator[bytes]:
        # The size is known once encoded: a message too big is halved until it fits.
        message = columnar.encode(records)
        if len(message) <= self.max_bytes or len(records) == 1:
            yield message
        else:
            half = len(records) // 2
            yield from self._encoded(records[:half])
            yield from self._encoded(records[half:])

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


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
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        # Data waiting is sent at once whatever this says; it is how long the first seek
        # waits for the fetcher (the default 500 ms made an empty graph take 2.5 s to build).
        fetch_max_wait_ms=50,
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
                records = records_of(decoder, message.value, topic, 0, message.offset)
                apply(records)
                applied += len(records)
                await asyncio.sleep(0)  # the worker's other agents go on meanwhile
    finally:
        await consumer.stop()
    return applied


def records_of(
    decoder: BatchDecoder[T], value: bytes | None, topic: str, partition: int, offset: int
) -> list[T]:
    """The records of one message; none, and an ERROR, if it does not decode.

    Only Chorus writes these topics, so such a message is a bug or a
    stranger's: the topic's sink keeps it as a dead letter, and the agents
    that work on records go on without it rather than stop.
    """
    try:
        return decoder.records(value or b"")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error(
            "%s[%d]@%d does not decode, skipped (its sink keeps it as a dead letter): %s",
            *(topic, partition, offset, exc),
        )
        return []


def decoded(events: Sequence[EventT], decoder: BatchDecoder[T]) -> list[T]:
    """The records of a batch of micro-batch messages (see `KafkaOutput`), decoded, in order."""
    records: list[T] = []
    for event in events:
        message = event.message
        message_records = records_of(
            decoder, message.value, message.topic, message.partition, message.offset
        )
        RECORDS_IN.labels(message.topic).inc(len(message_records))
        records += message_records
    return records
