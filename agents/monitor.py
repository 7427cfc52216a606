"""Slip-up monitoring: posts -> slip-ups -> spike alerts.

    chorus.employees ─> monitor-roster (a GlobalTable: every worker has the roster)
    chorus.posts ─> monitor-scan (`pipeline.slipups.scan`, in a thread) ─> chorus.slipups
    chorus.slipups ─> monitor-spikes (one `SpikeDetector`) ─> chorus.alerts

The scan runs on every worker that holds a posts partition; the detector is
one state, so chorus.slipups has one partition and one owner. The detector
lives in memory and is rebuilt after a restart or a rebalance by replaying
the slip-ups processed before, alerts muted (docs/slipups.md). Batches are
acked only once their output is in Kafka; a record an agent fails on is a
dead letter alone, and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import faust

from agents.kafka.batches import batches
from agents.kafka.output import KafkaOutput
from agents.kafka.records import decoded, failed_letter
from agents.kafka.replay import replay
from pipeline.observability import ALERTS
from pipeline.policy import Policy
from pipeline.slipups.idle_clock import IdleClock
from pipeline.slipups.roster import department_and_region, roster_update
from pipeline.slipups.scan import scan
from pipeline.slipups.spikes import SpikeConfig, SpikeDetector
from pipeline.topology import BY_NAME
from schemas.slipups import Alert, SlipUp

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 30.0  # how often event time moves on without slip-ups


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    policy = Policy.load(Path(settings.policy_file) if settings.policy_file else None)
    detector = SpikeDetector(SpikeConfig())
    idle_clock = IdleClock(detector)
    roster = app.GlobalTable(
        "roster", key_type=bytes, value_type=bytes, partitions=1, use_partitioner=True
    )
    output = KafkaOutput(settings)
    slipups, alerts, dlq = (settings.topic(name) for name in ("slipups", "alerts", "dlq"))

    @app.agent(topics["employees"], name="monitor-roster")
    async def keep_roster(stream: faust.StreamT) -> None:
        async for event in stream.events():
            for employee in decoded((event,), BY_NAME["employees"].decoder):
                key = employee.employee_id.encode()
                value = roster_update(roster.get(key), employee)
                if value is not None:
                    roster[key] = value

    @app.agent(topics["posts"], name="monitor-scan")
    async def scan_posts(stream: faust.StreamT) -> None:
        async for batch in batches(stream, settings):
            flagged_at = datetime.now(UTC)
            for event in batch:
                posts = decoded((event,), BY_NAME["posts"].decoder)
                authors = {
                    post.employee_id: department_and_region(roster.get(post.employee_id.encode()))
                    for post in posts
                }
                found = await asyncio.to_thread(
                    scan, policy, posts, authors.__getitem__, flagged_at
                )
                for slipup in found.slipups:
                    output.add(slipups, slipup.post_id.encode(), slipup)
                if found.failed:
                    output.add(dlq, None, failed_letter(event.message, found.failed, found.why))
            await output.flush()
            await batch.ack()

    async def send(fired: list[Alert]) -> None:
        for alert in fired:
            output.add(alerts, alert.incident_id.encode(), alert)
        await output.flush()
        for alert in fired:
            ALERTS.labels(alert.status).inc()
            log.info("%s", alert.summary)

    def observe_all(replayed: list[SlipUp]) -> None:
        for slipup in replayed:
            detector.observe(slipup)

    @app.agent(topics["slipups"], name="monitor-spikes", concurrency=1)
    async def spikes(stream: faust.StreamT) -> None:
        restored = False
        async for batch in batches(stream, settings):
            if not restored:  # what this group processed before, alerts muted
                until = batch[0].message.offset
                count = await replay(
                    settings, slipups, BY_NAME["slipups"].decoder, observe_all, until
                )
                log.info("spike detector restored from %d slip-ups", count)
                restored = True
            fired: list[Alert] = []
            for event in batch:
                for slipup in decoded((event,), BY_NAME["slipups"].decoder):
                    try:
                        fired += detector.observe(slipup)
                    except Exception as exc:  # one slip-up's bug stays that slip-up's
                        why = type(exc).__name__
                        output.add(dlq, None, failed_letter(event.message, [slipup], why))
            idle_clock.observed()
            await send(fired)
            await batch.ack()

    @app.timer(IDLE_TICK_SECONDS, name="monitor-idle-clock")
    async def idle_tick() -> None:
        await send(idle_clock.tick())
