"""What every connector runs with: where events go, where its place is kept, what it reports.

A connector sends a batch of events, waits until they are durable, and only
then saves the checkpoint that says they were sent (cursors, follower
snapshots, the Jetstream follow map). Killed in between, it sends the batch
again on resume; the events' deterministic ids make the second copy harmless.
Killed before sending, it has saved nothing and starts that step again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import msgspec

from pipeline.observability import CONNECTOR_EVENTS
from pipeline.sources.snapshots import FollowerSnapshot, follower_changes
from schemas.events import Event

T = TypeVar("T")
log = logging.getLogger(__name__)


class AccountsFailed(RuntimeError):
    """Some accounts could not be read this run; the others were, and these are left as they were."""

    def __init__(self, network: str, failures: list[str]) -> None:
        super().__init__(
            f"{network}: {len(failures)} account(s) failed, to be read again next run: "
            + "; ".join(failures)
        )


class Output(Protocol):
    """Where events go (chorus.raw, keyed by `pipeline.ingest.raw_key`)."""

    async def send(self, events: Sequence[Event]) -> None:
        """Returns once every event is durable; raises if any was refused."""


class Checkpoints(Protocol):
    """A durable key-value store that survives the connector (a compacted topic)."""

    def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes | None) -> None:
        """Store `value` under `key` (None deletes it); returns once durable."""


@dataclass
class Connection:
    """One connector run: its output, its checkpoints, its clock and what it has sent."""

    network: str
    output: Output
    checkpoints: Checkpoints
    progress: Callable[[str], None] = lambda line: None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sent: Counter[str] = field(default_factory=Counter)  # events sent, per type

    async def send(self, events: Sequence[Event]) -> None:
        if not events:
            return
        await self.output.send(events)
        kinds = Counter(type(event).__name__.lower() for event in events)
        for kind, count in kinds.items():
            CONNECTOR_EVENTS.labels(self.network, kind).inc(count)
        self.sent.update(kinds)

    async def each(
        self, accounts: Iterable[T], name: Callable[[T], str], read: Callable[[T], Awaitable[None]]
    ) -> None:
        """`read` every account; one that fails does not stop the others.

        A failed account's checkpoints are as its last completed step left
        them, so the next run picks it up where it was; the failures are
        raised together at the end (`AccountsFailed`), so a scheduler sees the
        run failed.
        """
        failures = []
        for account in accounts:
            try:
                await read(account)
            except Exception as exc:
                log.warning("%s %s failed: %s", self.network, name(account), exc, exc_info=True)
                self.progress(f"{self.network} {name(account)}: failed: {exc}")
                failures.append(f"{name(account)}: {exc}")
        if failures:
            raise AccountsFailed(self.network, failures)

    async def send_changed(self, key: str, events: Sequence[Event]) -> int:
        """Send `events` unless exactly these were the last sent under `key`; returns how many.

        For what a connector reads again every run because it grows late (a
        post's likes): their ids are stable, so sending them again would be
        harmless downstream, but it is not sent at all when nothing changed.
        """
        ids = "\x1f".join(sorted(event.event_id for event in events))
        digest = hashlib.blake2b(ids.encode(), digest_size=16).hexdigest()
        if self.read(f"sent/{key}", str) == digest:
            return 0
        await self.send(events)
        await self.write(f"sent/{key}", digest)
        return len(events)

    def read(self, key: str, kind: type[T]) -> T | None:
        data = self.checkpoints.get(f"{self.network}/{key}")
        return None if data is None else msgspec.msgpack.decode(data, type=kind)

    async def write(self, key: str, value: object | None) -> None:
        data = None if value is None else msgspec.msgpack.encode(value)
        await self.checkpoints.put(f"{self.network}/{key}", data)

    async def sync_followers(
        self, account_id: str, followers: Iterable[str], taken_at: datetime | None = None
    ) -> tuple[int, int]:
        """Send the changes from the last complete list of `account_id`'s followers to this one.

        `taken_at`: when the list was true (default: now, for a list just read).
        Returns (follows, unfollows) sent. See `pipeline.sources.snapshots`.
        """
        key = f"{self.network}/followers/{account_id}"
        stored, pending_stored = self.checkpoints.get(key), self.checkpoints.get(f"{key}.pending")
        previous = FollowerSnapshot.decode(stored) if stored is not None else None
        pending = FollowerSnapshot.decode(pending_stored) if pending_stored is not None else None
        events, snapshot = follower_changes(
            self.network, account_id, previous, pending, followers, taken_at or self.now()
        )
        if not events:
            if pending is not None:
                await self.checkpoints.put(f"{key}.pending", None)
            return 0, 0
        encoded = snapshot.encode()
        await self.checkpoints.put(f"{key}.pending", encoded)
        await self.send(events)
        await self.checkpoints.put(key, encoded)
        await self.checkpoints.put(f"{key}.pending", None)
        follows = sum(event.action == "follow" for event in events)
        return follows, len(events) - follows
