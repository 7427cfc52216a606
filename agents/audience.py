"""The live audience graph: the typed topics in, community snapshots out.

    chorus.employees ┐
    chorus.follows   │                                  every CHORUS_SNAPSHOT_SECONDS,
    chorus.identity  ├─> audience (one AudienceGraph) ──> when it changed ──> chorus.metrics
    chorus.account_stats                                  (-> ClickHouse by the sink)
    chorus.posts     ┘ (campaign relays)

The graph is one global state: its topics have one partition each, which
faust's assignor gives to one worker together (same partition count,
co-partitioned). The state lives in memory and is rebuilt, when this worker
gets the partitions, by reading the topics from their start (they are kept
for ever) up to their end at that moment; then the agents go on from their
committed offsets. Events applied twice that way are harmless: every
`AudienceGraph.apply` is an absolute assignment.

A snapshot pauses the agents (they wait on the same lock) while it runs in a
thread, so the event loop keeps heartbeating and the graph does not change
under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import faust

from agents.kafka.batches import batches
from agents.kafka.output import KafkaOutput
from agents.kafka.records import decoded
from agents.kafka.replay import replay
from pipeline.audience import AudienceGraph
from pipeline.observability import COMMUNITY_PERSONS, SNAPSHOT_SECONDS
from pipeline.topology import Topic, read_by
from schemas import metrics
from schemas.events import AccountStats, Employee, Follow, IdentityLink, Post

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

INPUTS = read_by("audience")  # in the order a rebuild reads them (`pipeline.topology`)


class LiveAudience:
    """The graph, whether it is built, and what changed since the last snapshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = asyncio.Lock()
        self.graph = AudienceGraph(link_threshold=settings.link_threshold)
        self.built = False
        self.changed = False
        self.as_of: datetime | None = None  # latest event time applied

    def apply_all(
        self, events: Sequence[Employee | IdentityLink | AccountStats | Follow | Post]
    ) -> None:
        if not events:
            return
        self.graph.apply_all(events)
        self.changed = True
        latest = max(event.occurred_at for event in events)
        if self.as_of is None or latest > self.as_of:
            self.as_of = latest

    async def ensure_built(self) -> None:
        """Rebuild from the topics unless built; call with the lock held."""
        if self.built:
            return
        started = time.monotonic()
        self.graph = AudienceGraph(link_threshold=self.settings.link_threshold)
        self.as_of = None
        applied = 0
        for topic in INPUTS:
            applied += await replay(
                self.settings, self.settings.topic(topic.name), topic.decoder, self.apply_all
            )
        self.built = True
        self.changed = True
        log.info(
            "audience graph rebuilt from %d events in %.1fs: %d distinct persons",
            applied,
            time.monotonic() - started,
            self.graph.distinct_persons,
        )

    async def snapshot(self) -> list[metrics.MetricRow]:
        """The snapshot rows if the graph changed since the last one; call with the lock held."""
        if not (self.built and self.changed):
            return []
        taken_at = self.as_of or datetime.now(UTC)
        # Increasing even when taken_at (event time) stands still: "latest" is by (taken_at, id).
        snapshot_id = f"{taken_at:%Y%m%dT%H%M%S}-{time.time_ns():020d}"
        with SNAPSHOT_SECONDS.time():
            rows = await asyncio.to_thread(self.graph.snapshot, snapshot_id, taken_at)
        self.changed = False
        COMMUNITY_PERSONS.set(self.graph.distinct_persons)
        return rows


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    live = LiveAudience(settings)
    output = KafkaOutput(settings)
    metrics_topic = settings.topic("metrics")

    def consume(topic: Topic) -> None:
        async def agent(stream: faust.StreamT) -> None:
            async for batch in batches(stream, settings):
                async with live.lock:
                    await live.ensure_built()
                    for event in batch:
                        live.apply_all(decoded((event,), topic.decoder))
                        # A batch can hold millions of records: between its messages the
                        # loop runs, so that the sinks' inserts finished in their threads
                        # are noticed and the next ones start while the graph grows.
                        await asyncio.sleep(0)
                await batch.ack()

        app.agent(topics[topic.name], name=f"audience-{topic.name}")(agent)

    for topic in INPUTS:
        consume(topic)
    graph_topics = {settings.topic(topic.name) for topic in INPUTS}

    @app.on_partitions_revoked.connect
    def forget(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Another worker may own the graph's topics now; rebuild if they come back.
        revoked: set[faust.types.TP] = args[0] if args else kwargs.get("revoked", set())
        if any(tp.topic in graph_topics for tp in revoked):
            live.built = False

    @app.timer(1.0, name="audience-build")
    async def build() -> None:
        # As soon as this worker holds the graph's topics, not at their next event: built
        # then, the graph would read again, on the agents' loop, all that came meanwhile.
        if not live.built and any(tp.topic in graph_topics for tp in app.consumer.assignment()):
            async with live.lock:
                await live.ensure_built()

    @app.timer(settings.snapshot_seconds, name="audience-snapshot")
    async def take_snapshot() -> None:
        started = time.monotonic()
        async with live.lock:
            rows = await live.snapshot()
        if not rows:
            return
        for row in rows:
            output.add(metrics_topic, None, row)
        await output.flush()
        log.info("audience snapshot: %d rows in %.1fs", len(rows), time.monotonic() - started)
