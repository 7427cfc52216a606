"""The one dead-letter layout, for every source: what came in, where from, and why it was refused.

A dead letter must let an operator find and replay its input whatever the
input was: its position (topic, partition, offset), its size and a digest of
all of it, and its bytes — whole up to `KEPT_WHOLE`, else the first
`KEPT_HEAD` bytes (an input too large to process is also too large to copy
into every downstream message). The bytes may hold raw third-party ids: they
travel only on chorus.dlq, which only the operator role reads, for the
retention `pipeline.topology` gives it; ClickHouse stores a redacted form
(`redacted`), which is what analysts see.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import msgspec

from schemas.events import EVENT_TYPES, MAX_EVENT_BYTES

KEPT_WHOLE = MAX_EVENT_BYTES  # the largest event ingest accepts
KEPT_HEAD = 64 << 10
REDACTED = "[redacted]"
# Fields whose values are third parties' raw ids in the event contract (docs/events.md).
THIRD_PARTY_FIELDS = frozenset(
    {"follower_id", "actor_id", "account_a", "account_b", "follower_sample", "in_reply_to"}
)
# Fields of the contract whose values are not third parties' ids: kept in the redacted form.
KNOWN_FIELDS = (
    frozenset({"type"} | {name for kind in EVENT_TYPES.values() for name in kind.__struct_fields__})
    - THIRD_PARTY_FIELDS
)


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    topic: str
    partition: int
    offset: int
    raw: bytes  # the input's bytes (base64 in JSON): whole, or its head if it is larger than KEPT_WHOLE
    size: int  # of the whole input
    digest: str  # BLAKE2b-128 of the whole input, hex: finds it again, tells copies apart
    reason: str  # a stable code (`pipeline.ingest.Reason`, or the sink's and outputs' own)
    message: str  # for people
    failed_at: datetime


def dead_letter(
    topic: str, partition: int, offset: int, raw: bytes, reason: str, message: str
) -> DeadLetter:
    """The dead letter of input refused now, by ingest, a sink or an output."""
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        raw=raw if len(raw) <= KEPT_WHOLE else raw[:KEPT_HEAD],
        size=len(raw),
        digest=hashlib.blake2b(raw, digest_size=16).hexdigest(),
        reason=reason,
        message=message,
        failed_at=datetime.now(UTC),
    )


def redacted(raw: bytes) -> str:
    """What analysts may read of a refused input: no raw third-party id can remain.

    A JSON object keeps the contract's fields that hold no third party's id;
    every other value (third parties' ids, unknown fields) is replaced. Input
    that is not a JSON object cannot be told apart: only its size remains.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        return f"{REDACTED} {len(raw):,} bytes, not a JSON object"
    kept = {key: value if key in KNOWN_FIELDS else REDACTED for key, value in document.items()}
    if isinstance(kept.get("accounts"), list):
        kept["accounts"] = [_account(account) for account in kept["accounts"]]
    return json.dumps(kept, ensure_ascii=False)


def _account(account: object) -> object:
    """An employee's own account (network, id) is kept; anything else in it is not."""
    if not isinstance(account, dict):
        return REDACTED
    return {
        key: value if key in ("network", "account_id") else REDACTED
        for key, value in account.items()
    }
