"""Batched, replay-safe writes of Kafka payloads into ClickHouse, knowing nothing of Kafka.

`Sink.add()` decodes a payload and files the record under its table;
`Sink.flush()` inserts every table's rows and returns only once ClickHouse has
them all. While ClickHouse is down, flush retries with exponential backoff and
jitter and simply does not return: a caller that pulls its next batch only
after flush (the sink agents) pulls nothing meanwhile, which is the
backpressure, and acks its offsets only after flush, so nothing is lost. A
replayed batch is harmless: the tables collapse copies (see sql/).

A payload that does not decode becomes a `DeadLetter` (reason `sink_decode`)
in the same flush, so the stream goes on and the offset is committed only once
the dead letter is stored.

One `Outage` is shared by all sinks of a worker, so an outage is one WARNING
when it starts and one INFO when it ends, however many sinks retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from pipeline.warehouse import TABLES, TRANSIENT_ERRORS, Table
from schemas.dead_letter import DeadLetter

log = logging.getLogger(__name__)

SINK_DECODE = "sink_decode"  # the dead-letter reason of a payload the sink cannot decode

Insert = Callable[[Table, Sequence[Any]], None]  # blocking; run in a thread


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
    """Buffers the records of one source and inserts them per table, retrying until they are in."""

    def __init__(
        self,
        source: str,
        decoder: msgspec.json.Decoder[Any],
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
        self.decode = decoder.decode
        self.insert = insert
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.backoff = backoff or Backoff()
        self.outage = outage or Outage(clock)
        self.clock = clock
        self.sleep = sleep
        self.pending: dict[type, list[Any]] = {}
        self.rows = 0
        self.first_added: float | None = None

    def add(self, payload: bytes, topic: str = "", partition: int = -1, offset: int = -1) -> bool:
        """Decode and buffer one payload; True when the batch is due (full or old enough).

        topic/partition/offset say where the payload came from, for its dead letter.
        """
        try:
            record = self.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error(
                "sink %s: %s[%d]@%d does not decode: %s", self.source, topic, partition, offset, exc
            )
            record = DeadLetter(
                topic=topic,
                partition=partition,
                offset=offset,
                raw=payload,
                reason=SINK_DECODE,
                message=str(exc),
                failed_at=datetime.now(UTC),
            )
        kind = type(record)
        rows = self.pending.get(kind)
        if rows is None:
            rows = self.pending[kind] = []
        rows.append(record)
        self.rows += 1
        if self.first_added is None:
            self.first_added = self.clock()
        return self.due

    @property
    def due(self) -> bool:
        return self.rows >= self.max_rows or (
            self.first_added is not None and self.clock() - self.first_added >= self.max_seconds
        )

    async def flush(self) -> int:
        """Insert everything buffered, each table once; returns the rows written.

        Returns only when all are in: while ClickHouse fails, it waits and retries.
        A table already written is not written again when a later one fails.
        """
        written = 0
        for kind in list(self.pending):
            records = self.pending[kind]
            await self._insert_until_done(TABLES[kind], records)
            del self.pending[kind]
            written += len(records)
        self.rows = 0
        self.first_added = None
        return written

    async def _insert_until_done(self, table: Table, records: Sequence[Any]) -> None:
        attempt = 0
        while True:
            try:
                # clickhouse-driver blocks: a thread keeps the event loop (and Kafka heartbeats) going.
                await asyncio.to_thread(self.insert, table, records)
            except TRANSIENT_ERRORS as exc:
                attempt += 1
                self.outage.failed(self.source, table.name, len(records), exc)
                await self.sleep(self.backoff.delay(attempt))
            else:
                self.outage.succeeded()
                return
