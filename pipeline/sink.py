"""Batched, replay-safe writes of Kafka payloads into ClickHouse, knowing nothing of Kafka.

`Sink.add()` decodes one message (a run of records as columns, see
`schemas.columnar`) and adds them to their table's columns;
`Sink.submit()` inserts every table's rows, each in a thread, and then calls
the batch's `written` callback (the agent's acks): a callback is called only
after its batch's inserts succeeded, and batches are written in the order
they are submitted. `submit` returns once its batch is in: overlapping the
next batch's decoding with this one's insert gains nothing on these machines
(both need the GIL, and the server shares the two cores).

While ClickHouse is down `submit` retries with exponential backoff and
jitter and does not return: a caller that pulls its next batch only after
`submit` (the sink agents) pulls nothing meanwhile, which is the
backpressure, and acks nothing, so nothing is lost. A replayed batch is
harmless: the tables collapse copies (see sql/).

A message that does not decode keeps the records that decode alone
(`BatchDecoder.salvage`); the others become one dead letter (reason
`sink_decode`) in the same batch: the stream goes on, and the offset is
committed only once the dead letter is. Only Chorus writes these topics, so
such a message is a bug or a stranger's.

One `Outage` is shared by all sinks of a worker, so an outage is one WARNING
when it starts and one INFO when it ends, however many sinks retry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.observability import SINK_BATCH_ROWS, SINK_INSERT_SECONDS, SINK_RETRIES
from pipeline.warehouse import TABLES, TRANSIENT_ERRORS, Block, Table
from schemas.columnar import BatchDecoder
from schemas.dead_letter import DeadLetter, dead_letter

log = logging.getLogger(__name__)

SINK_DECODE = "sink_decode"  # the dead-letter reason of records the sink cannot decode

Insert = Callable[[Table, Block], None]  # one columnar INSERT; blocking, so run in a thread
Written = Callable[[], Awaitable[Any]]  # called once a batch is in ClickHouse, e.g. its acks


@dataclass(frozen=True)
class Write:
    """One table's share of a batch, as the columns the insert sends."""

    table: Table
    columns: Block

    @property
    def rows(self) -> int:
        return len(self.columns[0])


@dataclass
class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    The fixed half keeps a restarting server from being hammered; the random
    half keeps many sinks from retrying in step.
    """

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.cap, self.initial * self.factor ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


class Outage:
    """Whether ClickHouse is down, for the logs: one line when it starts, one when it ends."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started: float | None = None
        self.attempts = 0

    def failed(self, source: str, table: str, rows: int, error: BaseException) -> None:
        self.attempts += 1
        if self.started is None:
            self.started = self.clock()
            log.warning(
                "ClickHouse is unreachable (%s: %s); sink %s holds %d rows for %s "
                "and retries with backoff, reading nothing more from Kafka meanwhile",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
                source,
                rows,
                table,
            )

    def succeeded(self) -> None:
        if self.started is not None:
            log.info(
                "ClickHouse is back after %.1f s and %d failed attempts; sinks resume",
                self.clock() - self.started,
                self.attempts,
            )
            self.started = None
            self.attempts = 0


class Sink:
    """Buffers the records of one source and writes them per table, in order, retrying until in."""

    def __init__(
        self,
        source: str,
        decoder: BatchDecoder[Any],
        insert: Insert,
        *,
        max_rows: int = 5000,
        max_seconds: float = 1.0,
        backoff: Backoff | None = None,
        outage: Outage | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.source = source
        self.decoder = decoder
        self.insert = insert
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.backoff = backoff or Backoff()
        self.outage = outage or Outage(clock)
        self.clock = clock
        self.sleep = sleep
        self.pending: dict[type, Block] = {}  # record type -> its table's columns so far
        self.rows = 0
        self.first_added: float | None = None

    def add(self, payload: bytes, topic: str = "", partition: int = -1, offset: int = -1) -> bool:
        """Decode and buffer the records of one message; True when the batch is due (full or old).

        topic/partition/offset say where the message came from, for dead letters.
        """
        try:
            columns = self.decoder.columns(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            good, rest, why = self.decoder.salvage(payload)
            log.error(
                "sink %s: %s[%d]@%d does not decode (%d records saved): %s",
                *(self.source, topic, partition, offset, len(good), why if good else exc),
            )
            for kind, records in itertools.groupby(good, type):
                self._extend(kind, TABLES[kind].to_columns(list(records)))
            if rest:
                message = why if good else str(exc)
                letter = dead_letter(topic, partition, offset, rest, SINK_DECODE, message)
                self._extend(DeadLetter, TABLES[DeadLetter].to_columns([letter]))
        else:
            kind = self.decoder.kind_of(columns)
            self._extend(kind, TABLES[kind].from_columns(columns))
        return self.due

    def _extend(self, kind: type, block: Block) -> None:
        columns = self.pending.setdefault(kind, [[] for _ in block])
        for column, part in zip(columns, block, strict=True):
            column.extend(part)
        self.rows += len(block[0])
        if self.first_added is None and block[0]:
            self.first_added = self.clock()

    @property
    def due(self) -> bool:
        return self.rows >= self.max_rows or (
            self.first_added is not None and self.clock() - self.first_added >= self.max_seconds
        )

    async def submit(self, written: Written | None = None) -> int:
        """Insert everything buffered, then await `written`; returns the rows inserted.

        Raises what an insert raised that was not a transient ClickHouse
        error; `written` is then not called.
        """
        # The columns were built on the loop thread (`add`): the insert's thread does just
        # what a raw clickhouse-driver insert does.
        writes = [Write(TABLES[kind], columns) for kind, columns in self.pending.items()]
        rows = self.rows
        self.pending, self.rows, self.first_added = {}, 0, None
        for write in writes:
            await self._insert_until_done(write)
        if written is not None:
            await written()
        return rows

    async def _insert_until_done(self, write: Write) -> None:
        attempt = 0
        while True:
            try:
                # clickhouse-driver blocks: a thread keeps the loop (and Kafka heartbeats) going.
                started = time.monotonic()
                await asyncio.to_thread(self.insert, write.table, write.columns)
            except TRANSIENT_ERRORS as exc:
                attempt += 1
                SINK_RETRIES.labels(write.table.name).inc()
                self.outage.failed(self.source, write.table.name, write.rows, exc)
                await self.sleep(self.backoff.delay(attempt))
            else:
                SINK_INSERT_SECONDS.labels(write.table.name).observe(time.monotonic() - started)
                SINK_BATCH_ROWS.labels(write.table.name).observe(write.rows)
                self.outage.succeeded()
                return
