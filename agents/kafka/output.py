"""Writing an agent's results to Chorus topics as micro-batches, before its input is acked.

faust spends tens of microseconds on every message it delivers, more than
Chorus's own work on an event, so every topic after chorus.raw carries runs
of records as columns (`schemas.columnar`): downstream agents pay faust's
cost once per batch. The guarantee: `flush` (or awaiting what `send`
returned) completes only once the broker has every message, so an agent that
acks its input afterwards never acks an input whose output could be lost.
`tests/test_kafka_output.py` shows the order, the partitioning and the
sharing of one output by several agents.

No record stalls a partition. One that alone is larger than the topics take
(`pipeline.topology.MAX_MESSAGE_BYTES`) is never sent: it becomes a dead
letter on chorus.dlq, its head, size and digest kept. A message the broker
refuses for its size (a topic created elsewhere with a lower
`max.message.bytes`: aiokafka's `MessageSizeTooLargeError`, not retriable;
the limit applies to a producer's whole record batch) is split, and the
halves are sent one at a time, on a new producer (a refused batch breaks an
idempotent producer's sequence); a single record refused so becomes a dead
letter. Any other failure is raised, for the agent to retry its input.
`tests/test_kafka_sizes.py` shows both on the real broker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import zlib
from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from agents.kafka.producer import open_producer
from pipeline.observability import DEAD_LETTERS, RECORDS_OUT
from pipeline.topology import MAX_MESSAGE_BYTES
from schemas import columnar
from schemas.dead_letter import dead_letter

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

OUTPUT_TOO_LARGE = "output_too_large"  # the dead-letter reason of records no topic takes


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
        self,
        settings: Settings,
        max_records: int = 1000,
        max_bytes: int = 512 * 1024,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.settings = settings
        self.max_records = max_records
        self.max_bytes = max_bytes  # a batch above it is split; a single record may exceed it
        self.max_message_bytes = max_message_bytes  # a single record above it is refused
        self.dead_letters = settings.topic("dlq")
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
            deliveries: list[Awaitable[object]] = []
            if self._handed is not None and not self._handed.done():
                deliveries.append(self._handed)
            for topic, records in pending.items():
                RECORDS_OUT.labels(topic).inc(len(records))
                for partition, of_partition in (await self._by_partition(topic, records)).items():
                    for run, message in self._messages(of_partition):
                        if len(message) > self.max_message_bytes:
                            deliveries.append(await self._refuse(topic, partition, message))
                            continue
                        sent = await producer.send(topic, message, partition=partition)
                        deliveries.append(self._confirmed(sent, topic, partition, run, message))
            self._handed = asyncio.gather(*deliveries)
            return self._handed

    async def _confirmed(
        self,
        sent: Awaitable[object],
        topic: str,
        partition: int,
        records: list[msgspec.Struct],
        message: bytes,
    ) -> None:
        """Wait for the broker; a message refused for its size is split, a record dead-lettered."""
        try:
            await sent
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            log.warning(
                "%s[%d] refused a message of %d records, %d bytes (%s): splitting it",
                *(topic, partition, len(records), len(message), type(exc).__name__),
            )
            if len(records) == 1:
                await (await self._refuse(topic, partition, message))
                return
            async with self._sending:
                # An idempotent producer's sequence is broken by a refused batch: start anew.
                await self.stop()
            half = len(records) // 2
            for part in (records[:half], records[half:]):
                # One at a time: the producer would batch the parts together again.
                encoded = columnar.encode(part)
                async with self._sending:
                    producer = await self._start()
                    again = await producer.send(topic, encoded, partition=partition)
                await self._confirmed(again, topic, partition, part, encoded)

    async def _refuse(self, topic: str, partition: int, message: bytes) -> Awaitable[object]:
        """Send a record too large for `topic` to the dead letters instead; what to await."""
        DEAD_LETTERS.labels(OUTPUT_TOO_LARGE).inc()
        log.error(
            "a record for %s[%d] of %d bytes is a dead letter", topic, partition, len(message)
        )
        letter = dead_letter(
            topic,
            partition,
            -1,  # not yet in the topic: the head's event_id finds its input
            message,
            OUTPUT_TOO_LARGE,
            f"one record of {len(message):,} bytes, more than {topic} takes",
        )
        producer = await self._start()
        return await producer.send(self.dead_letters, columnar.encode([letter]), partition=0)

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

    def _messages(
        self, records: list[msgspec.Struct]
    ) -> Iterator[tuple[list[msgspec.Struct], bytes]]:
        """The records as messages: runs of one type, up to `max_records` each, in order."""
        for _, run in itertools.groupby(records, type):
            of_type = list(run)
            for start in range(0, len(of_type), self.max_records):
                yield from self._encoded(of_type[start : start + self.max_records])

    def _encoded(
        self, records: list[msgspec.Struct]
    ) -> Iterator[tuple[list[msgspec.Struct], bytes]]:
        # The size is known once encoded: a message too big is halved until it fits.
        message = columnar.encode(records)
        if len(message) <= self.max_bytes or len(records) == 1:
            yield records, message
        else:
            half = len(records) // 2
            yield from self._encoded(records[:half])
            yield from self._encoded(records[half:])

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
