"""The records of Chorus's micro-batch messages (`schemas.columnar`), one bad message skipped alone.

Only Chorus writes the topics after chorus.raw, so a message that does not
decode is a bug or a stranger's: the topic's sink keeps it as a dead letter
(`pipeline.sink`), and the agents that work on records go on without it
rather than stop on it for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

import msgspec
from faust.types import EventT

from pipeline.observability import RECORDS_IN
from schemas.columnar import BatchDecoder

T = TypeVar("T", bound=msgspec.Struct)

log = logging.getLogger(__name__)


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
