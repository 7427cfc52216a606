"""The one dead-letter layout, for every source: what came in, where from, and why it was refused."""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.columnar import BatchDecoder


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    topic: str
    partition: int
    offset: int
    raw: bytes  # the original bytes, base64 in JSON
    reason: str  # a stable code from pipeline.ingest.Reason
    message: str  # for people
    failed_at: datetime


decoder = BatchDecoder(DeadLetter)
