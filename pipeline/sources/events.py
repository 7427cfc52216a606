"""Deterministic event ids: the same object at the same version always gets the same id.

Chorus's idempotency key is `event_id` end to end (ClickHouse keeps one row
per id, the audience graph's state is a set), so a connector that reads an
object twice, in a re-run, an overlapping page or after a resume, must name
it identically. The id is the network, the event kind and a digest of what
makes the event this event: the object's id on its network and, where the
object changes, its version (an edit time, a snapshot generation).
"""

from __future__ import annotations

import hashlib


def event_id(network: str, kind: str, *identity: str) -> str:
    """`network:kind:` and 32 hex digits of `identity` (object id, then version)."""
    digest = hashlib.blake2b("\x1f".join(identity).encode(), digest_size=16).hexdigest()
    return f"{network}:{kind}:{digest}"
