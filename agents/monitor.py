"""Slip-up monitoring: posts -> slip-ups -> incident alerts -> webhooks.

    chorus.employees ─> roster (GlobalTable: every worker holds the whole roster)
    chorus.posts ─> scan (policy) ─> chorus.slipups ─> spikes (one detector) ─> chorus.alerts
    chorus.alerts ─> notify (webhooks, background retries)

`scan` runs on every worker, one posts partition each; the department and region
of a post's author come from the roster, which is a GlobalTable because the post
and its author's roster entry may be on different workers' partitions (the
changelog of a global table is read whole by every worker). `spikes` keeps one
in-memory `SpikeDetector`, so `chorus.slipups` has one partition: exactly one
worker owns it. Batches are acked only after their output is in Kafka.

The detector's windows, baselines and incidents live in memory; after a
restart or a rebalance they are restored by replaying the slip-ups already
processed, alerts muted (`restore_detector`; docs/slipups.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import faust
import msgspec

from agents import KafkaOutput, batches, decoded, replay
from pipeline.observability import ALERT_DELIVERIES, ALERTS
from pipeline.policy import Policy, flag_post
from pipeline.slipups.alerts import WebhookNotifier
from pipeline.slipups.spikes import SpikeConfig, SpikeDetector
from schemas import slipups
from schemas.columnar import BatchDecoder
from schemas.events import Employee, Post
from schemas.slipups import Alert, AlertDelivery, SlipUp

if TYPE_CHECKING:
    from pipeline.app import Topics
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 30.0
DELIVERIES_SECONDS = 5.0  # how often finished webhook deliveries are written out  # how often the detector's event time moves on without slip-ups


class RosterEntry(msgspec.Struct, frozen=True):
    """What the scan needs of an employee: the roster table's value."""

    department: str
    region: str
    as_of: datetime  # the roster event's time: an older event never overwrites a newer one


roster_encoder = msgspec.json.Encoder()
roster_decoder = msgspec.json.Decoder(RosterEntry)
employee_decoder = BatchDecoder(Employee)
post_decoder = BatchDecoder(Post)


def roster_update(current: bytes | None, employee: Employee) -> bytes | None:
    """The new roster value for `employee`, or None when `current` is newer."""
    if current is not None and roster_decoder.decode(current).as_of > employee.occurred_at:
        return None
    entry = RosterEntry(employee.department, employee.region, employee.occurred_at)
    return roster_encoder.encode(entry)


class IdleClock:
    """Moves the detector's event time on with the wall clock while no slip-up arrives.

    Slip-ups are rare: without this, the last windows of a quiet night would stay
    open and an incident would resolve only with the next slip-up. Event time goes
    on from the detector's own watermark by the wall time elapsed since it last
    moved, so a fast replay of old data is never overtaken by the wall clock.
    """

    def __init__(self, detector: SpikeDetector) -> None:
        self._detector = detector
        self._seen: tuple[datetime, float] | None = None  # (watermark, monotonic time)

    def observed(self) -> None:
        watermark = self._detector.watermark
        if watermark and (self._seen is None or watermark > self._seen[0]):
            self._seen = (watermark, time.monotonic())

    def tick(self) -> list[Alert]:
        if self._seen is None:
            return []
        watermark, since = self._seen
        elapsed = time.monotonic() - since
        return self._detector.advance_to(watermark.timestamp() + elapsed)


def register(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    *,
    policy_path: Path | None = None,
    webhooks: Sequence[str] = (),
    spike_config: SpikeConfig | None = None,
) -> None:
    """Wire the monitor's agents. `webhooks`: URLs (setting `CHORUS_ALERT_WEBHOOKS`)."""
    policy = Policy.load(policy_path)
    detector = SpikeDetector(spike_config or SpikeConfig())
    idle_clock = IdleClock(detector)
    roster = app.GlobalTable(
        "roster", key_type=bytes, value_type=bytes, partitions=1, use_partitioner=True
    )
    slipups_topic = topics.slipups.get_topic_name()
    alerts_topic = topics.alerts.get_topic_name()
    deliveries_topic = topics.alert_deliveries.get_topic_name()

    output = KafkaOutput(settings)

    @app.agent(topics.employees, name="monitor-roster")
    async def keep_roster(stream: faust.StreamT) -> None:
        async for event in stream.events():
            for employee in decoded((event,), employee_decoder):
                key = employee.employee_id.encode()
                value = roster_update(roster.get(key), employee)
                if value is not None:
                    roster[key] = value

    @app.agent(topics.posts, name="monitor-scan")
    async def scan(stream: faust.StreamT) -> None:
        async for batch in batches(stream, settings):
            flagged_at = datetime.now(UTC)
            for post in decoded(batch, post_decoder):
                entry = roster.get(post.employee_id.encode())
                known = roster_decoder.decode(entry) if entry else None
                for slipup in flag_post(
                    policy,
                    post,
                    known.department if known else "",
                    known.region if known else "",
                    flagged_at,
                ):
                    output.add(slipups_topic, post.post_id.encode(), slipup)
            await output.flush()
            await batch.ack()

    async def send_alerts(alerts: list[Alert]) -> None:
        for alert in alerts:
            output.add(alerts_topic, alert.incident_id.encode(), alert)
        await output.flush()
        for alert in alerts:
            ALERTS.labels(alert.status).inc()
            log.info("%s", alert.summary)

    def observe_all(replayed: list[SlipUp]) -> None:
        for slipup in replayed:
            detector.observe(slipup)

    async def restore_detector(first_offset: int) -> None:
        """Replay the slip-ups this group already processed, alerts muted: open incidents stay open."""
        applied = await replay(
            settings, slipups_topic, slipups.slipup_decoder, observe_all, until=first_offset
        )
        log.info("spike detector restored from %d slip-ups", applied)

    @app.agent(topics.slipups, name="monitor-spikes", concurrency=1)
    async def spikes(stream: faust.StreamT) -> None:
        restored = False
        async for batch in batches(stream, settings):
            if not restored:
                await restore_detector(batch[0].message.offset)
                restored = True
            alerts: list[Alert] = []
            for slipup in decoded(batch, slipups.slipup_decoder):
                alerts += detector.observe(slipup)
            idle_clock.observed()
            await send_alerts(alerts)
            await batch.ack()

    @app.timer(IDLE_TICK_SECONDS, name="monitor-idle-clock")
    async def idle_tick() -> None:
        await send_alerts(idle_clock.tick())

    finished: list[AlertDelivery] = []  # delivery outcomes not yet on chorus.alert_deliveries

    def record(outcome: AlertDelivery) -> None:
        finished.append(outcome)
        ALERT_DELIVERIES.labels("delivered" if outcome.ok else "failed").inc()
        if outcome.ok:
            log.info("alert %s delivered to %s", outcome.alert_id, outcome.url)
        else:
            log.warning(
                "alert %s NOT delivered to %s after %d attempts: %s",
                outcome.alert_id,
                outcome.url,
                outcome.attempts,
                outcome.error,
            )

    @app.timer(DELIVERIES_SECONDS, name="monitor-deliveries")
    async def store_deliveries() -> None:
        """Every delivery outcome, failures above all, goes to ClickHouse (via the sink)."""
        taken = finished[:]
        del finished[: len(taken)]
        for outcome in taken:
            output.add(deliveries_topic, outcome.alert_id.encode(), outcome)
        await output.flush()

    @app.agent(topics.alerts, name="monitor-notify")
    async def notify(stream: faust.StreamT) -> None:
        notifier = WebhookNotifier(webhooks, record)
        await notifier.start()
        try:
            async for batch in batches(stream, settings):
                for alert in decoded(batch, slipups.alert_decoder):
                    notifier.enqueue(alert)
                await batch.ack()
        finally:
            await notifier.close()
            await store_deliveries()
