"""The live audience graph as the stream keeps it: applied event by event, rebuilt, snapshot.

The graph is one global state held in memory by the worker that owns its
topics; it is rebuilt from those topics (kept for ever) when that worker
gets them, then grows as events come. Events applied twice are harmless:
every `AudienceGraph.apply` is an absolute assignment. A snapshot runs in a
thread while the agents wait on `lock`, so the event loop keeps
heartbeating and the graph does not change under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pipeline.audience.graph import AudienceGraph
from pipeline.observability import COMMUNITY_PERSONS, SNAPSHOT_SECONDS
from schemas import metrics
from schemas.events import AccountStats, Employee, Follow, IdentityLink, Post

log = logging.getLogger(__name__)

ReadAll = Callable[[Callable[[list[Any]], object]], Awaitable[int]]


class LiveAudience:
    """The graph, whether it is built, and what changed since the last snapshot."""

    def __init__(self, link_threshold: float) -> None:
        self.link_threshold = link_threshold
        self.lock = asyncio.Lock()
        self.graph = AudienceGraph(link_threshold=link_threshold)
        self.built = False
        self.changed = False
        self.as_of: datetime | None = None  # latest event time applied
        self.published_persons: dict[str, tuple[str, bool]] = {}  # as ClickHouse has them

    def apply_all(
        self, events: Sequence[Employee | IdentityLink | AccountStats | Follow | Post]
    ) -> tuple[list[Any], str]:
        """Apply `events`; returns those the graph failed on, and the first failure's type.

        Applying is an assignment, so after a failure the events are applied
        again one by one, each on its own: one bad event costs only itself.
        """
        if not events:
            return [], ""
        failed: list[Any] = []
        why = ""
        try:
            self.graph.apply_all(events)
        except Exception:
            for event in events:
                try:
                    self.graph.apply(event)
                except Exception as exc:
                    failed.append(event)
                    why = why or type(exc).__name__
        self.changed = True
        latest = max(event.occurred_at for event in events)
        if self.as_of is None or latest > self.as_of:
            self.as_of = latest
        return failed, why

    async def ensure_built(self, read_all: ReadAll) -> None:
        """Rebuild from the inputs unless built; call with the lock held.

        `read_all(apply)` feeds `apply` every event of the graph's inputs, in
        order, and returns how many it fed (the agent reads its topics).
        """
        if self.built:
            return
        started = time.monotonic()
        self.graph = AudienceGraph(link_threshold=self.link_threshold)
        self.as_of = None
        self.published_persons = {}  # another worker may have sent others since
        applied = await read_all(self.apply_all)
        self.built = True
        self.changed = True
        log.info(
            "audience graph rebuilt from %d events in %.1fs: %d distinct persons",
            applied,
            time.monotonic() - started,
            self.graph.distinct_persons,
        )

    async def snapshot(self) -> list[metrics.MetricRow | metrics.AccountPerson]:
        """The snapshot rows if the graph changed since the last one; call with the lock held.

        Snapshots are stamped with the latest event time applied, and "latest"
        is by that stamp: a graph with no event yet has no time of its own, and
        a snapshot of it stamped with the wall clock would outrank every real
        one (a worker that built an empty graph before a rebalance did that).
        """
        if not (self.built and self.changed) or self.as_of is None:
            return []
        taken_at = self.as_of
        # Increasing even when taken_at (event time) stands still: "latest" is by (taken_at, id).
        snapshot_id = f"{taken_at:%Y%m%dT%H%M%S}-{time.time_ns():020d}"
        with SNAPSHOT_SECONDS.time():
            rows: list[metrics.MetricRow | metrics.AccountPerson] = []
            rows += await asyncio.to_thread(self.graph.snapshot, snapshot_id, taken_at)
        rows += self._person_changes(snapshot_id, taken_at)
        self.changed = False
        COMMUNITY_PERSONS.set(self.graph.distinct_persons)
        return rows

    def _person_changes(self, snapshot_id: str, taken_at: datetime) -> list[metrics.AccountPerson]:
        """The persons of linked accounts that changed since the last ones sent.

        An account no longer linked is sent as a person of its own.
        """
        linked = self.graph.linked_accounts()
        published = self.published_persons
        changed = {a: p for a, p in linked.items() if published.get(a) != p}
        changed.update({a: (a, False) for a in published.keys() - linked.keys()})
        self.published_persons = linked
        return [
            metrics.AccountPerson(
                snapshot_id=snapshot_id,
                taken_at=taken_at,
                account=account,
                person=person,
                colleague=colleague,
            )
            for account, (person, colleague) in sorted(changed.items())
        ]
