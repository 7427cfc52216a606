"""The records of Chorus's micro-batch messages (`schemas.columnar`), a bad record skipped alone.

Only Chorus writes the topics after chorus.raw, so a record that does not
decode is a bug or a stranger's: the topic's sink keeps it as a dead letter
(`pipeline.sink`), and the agents that work on records go on with the
message's other records rather than stop on it for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from faust.types import EventT

from pipeline.ingest import Reason
from pipeline.observability import RECORDS_IN
from schemas import columnar
from schemas.columnar import BatchDecoder
from schemas.dead_letter import DeadLetter, dead_letter

T = TypeVar("T", bound=msgspec.Struct)

log = logging.getLogger(__name__)


def records_of(
    decoder: BatchDecoder[T], value: bytes | None, topic: str, partition: int, offset: int
) -> list[T]:
    """The records of one message; for one that does not decode, those that decode alone.

    The others are skipped with an ERROR: the topic's sink keeps them as a
    dead letter, and the agents that work on records go on without them.
    """
    try:
        return decoder.records(value or b"")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        good, _, why = decoder.salvage(value or b"")
        log.error(
            "%s[%d]@%d does not decode, %d records saved (its sink keeps the rest): %s",
            *(topic, partition, offset, len(good), why if good else exc),
        )
        return good


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


def failed_letter(message: Any, records: Sequence[msgspec.Struct], why: str) -> DeadLetter:
    """The dead letter of records an agent failed on, at their message's position.

    An agent that fails on a record writes this instead of stopping, so the
    records after it go on; the columns format lets an operator replay them.
    """
    return dead_letter(
        message.topic,
        message.partition,
        message.offset,
        columnar.encode(list(records)),
        Reason.INTERNAL_ERROR.value,
        f"{why} on {len(records)} record(s) (a bug of Chorus)",
    )
