"""The live audience graph: the typed topics in, community snapshots out.

    chorus.employees ┐
    chorus.follows   │                                  every CHORUS_SNAPSHOT_SECONDS,
    chorus.identity  ├─> audience (one AudienceGraph) ──> when it changed ──> chorus.metrics
    chorus.account_stats                                  (-> ClickHouse by the sink)
    chorus.posts     ┘ (campaign relays)

The graph is one global state (`pipeline.audience.live`): its topics have
one partition each, which faust's assignor gives to one worker together. It
is rebuilt, when this worker gets the partitions, by reading the topics from
their start (they are kept for ever) up to their end at that moment; then
the agents go on from their committed offsets. An event the graph fails on is
a dead letter alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import faust

from agents.kafka.batches import batches
from agents.kafka.output import KafkaOutput
from agents.kafka.records import decoded, failed_letter
from agents.kafka.replay import replay
from pipeline.audience.live import LiveAudience
from pipeline.topology import Topic, read_by

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

INPUTS = read_by("audience")  # in the order a rebuild reads them (`pipeline.topology`)


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    live = LiveAudience(settings.link_threshold)

    async def read_all(apply: Callable[[list[Any]], object]) -> int:
        """Every event of the graph's topics, in rebuild order, from their start."""
        applied = 0
        for topic in INPUTS:
            applied += await replay(settings, settings.topic(topic.name), topic.decoder, apply)
        return applied

    output = KafkaOutput(settings)
    metrics_topic, dlq = settings.topic("metrics"), settings.topic("dlq")

    def consume(topic: Topic) -> None:
        async def agent(stream: faust.StreamT) -> None:
            async for batch in batches(stream, settings):
                async with live.lock:
                    await live.ensure_built(read_all)
                    for event in batch:
                        failed, why = live.apply_all(decoded((event,), topic.decoder))
                        if failed:
                            output.add(dlq, None, failed_letter(event.message, failed, why))
                        # A batch can hold millions of records: between its messages the
                        # loop runs, so that the sinks' inserts finished in their threads
                        # are noticed and the next ones start while the graph grows.
                        await asyncio.sleep(0)
                await output.flush()
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
                await live.ensure_built(read_all)

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
