"""The one dead-letter layout, for every source: what came in, where from, and why it was refused."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    topic: str
    partition: int
    offset: int
    raw: bytes  # the original bytes, base64 in JSON
    reason: str  # a stable code from pipeline.ingest.Reason
    message: str  # for people
    failed_at: datetime


def dead_letter(
    topic: str, partition: int, offset: int, raw: bytes, reason: str, message: str
) -> DeadLetter:
    """The dead letter of input refused now: ingest's rejections and the sinks' undecodable messages."""
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        raw=raw,
        reason=reason,
        message=message,
        failed_at=datetime.now(UTC),
    )
