"""Batches of a faust stream that are acked only when the agent says so, in order, with no offset skipped.

Two faust behaviours make its own acking lose data. `Stream.take()` acks its
events in a `finally`, so a failed write still moves the offset
(robinhood/faust#513): agents take with `noack_take` and ack once their
output is stored. And faust commits a partition up to the first run of acked
offsets without checking that the run starts at the group's committed offset
when that offset is zero or absent, while messages of an earlier consumer
generation, or below a stale read position, are dropped unacked
(faust-streaming/faust#527): an offset that never reached the agent would be
committed over. `InOrder` holds each partition's next expected offset
(`agents.kafka.ledger`) and seeks the partition back when a delivery skips
one. Guarantee: an offset is committed only after the agent acked it and
every offset before it. `tests/test_offsets.py` (the ledger) and the chaos
tests (workers killed mid-stream, nothing lost) show it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, cast

import aiokafka.errors
import faust
from faust.types import TP, AppT, EventT
from kafka.errors import KafkaError

from agents.kafka.lag import LagProbe
from agents.kafka.ledger import OffsetLedger, Verdict
from pipeline.observability import REREADS

if TYPE_CHECKING:
    from pipeline.settings import Settings

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
    """Wires `agents.kafka.ledger.OffsetLedger` to one agent's stream (see there for why)."""

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
