"""Followers by snapshot: where a network gives a list, not a stream, diff it with the last one.

Each run reads an account's whole follower list; the followers not in the
previous list are `follow` events, those gone are `unfollow` events, both
timestamped at the run (the list's time). The ids carry the snapshot's
generation (the previous one's plus one), not the clock: a run killed after
sending its events and before saving its snapshot is redone with the same
generation, hence the same event ids, and nothing counts twice.

A run first saves its new snapshot as *pending*, then sends, then makes it
current. A run that finds a pending snapshot knows a killed run may have sent
some of that snapshot's changes and not others; it re-sends, for every
follower the pending snapshot changed, the event that matches today's list
(the same id where the two agree), so that no half-sent change is left behind
even if the list moved in between.

Only a complete list may be diffed: a list cut short by an error would read
as a wave of unfollows. Connectors therefore diff only after the last page.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime

import msgspec

from pipeline.sources.events import event_id
from schemas.events import Follow


class FollowerSnapshot(msgspec.Struct, frozen=True):
    generation: int
    taken_at: datetime
    followers: list[str]  # sorted

    def encode(self) -> bytes:
        # Follower ids share long prefixes: compressed, a 100,000-follower list is ~1 MB.
        return zlib.compress(msgspec.msgpack.encode(self), 6)

    @classmethod
    def decode(cls, data: bytes) -> FollowerSnapshot:
        return msgspec.msgpack.decode(zlib.decompress(data), type=cls)


def follower_changes(
    network: str,
    account_id: str,
    previous: FollowerSnapshot | None,
    pending: FollowerSnapshot | None,
    followers: Iterable[str],
    taken_at: datetime,
) -> tuple[list[Follow], FollowerSnapshot]:
    """The follow and unfollow events from `previous` to `followers`, and the new snapshot.

    `pending`: the snapshot of a run that stopped between sending and saving, if any.
    """
    current = set(followers)
    before = set(previous.followers) if previous is not None else set()
    generation = previous.generation + 1 if previous is not None else 1
    changed = current ^ before
    if pending is not None:
        changed |= set(pending.followers) ^ before

    def change(follower: str, action: str) -> Follow:
        return Follow(
            event_id=event_id(network, action, account_id, follower, str(generation)),
            occurred_at=taken_at,
            network=network,
            account_id=account_id,
            follower_id=follower,
            action=action,  # type: ignore[arg-type]
        )

    events = [
        change(follower, "follow" if follower in current else "unfollow")
        for follower in sorted(changed)
    ]
    return events, FollowerSnapshot(generation, taken_at, sorted(current))
