"""Alert delivery: chorus.alerts -> webhooks, every outcome -> chorus.alert_deliveries.

    chorus.alerts ─> monitor-notify (`WebhookNotifier`: retries in the background)
        every DELIVERIES_SECONDS ─> chorus.alert_deliveries (delivered, or failed for good)

An alert is acked once it is queued for delivery: a webhook that is down
must not hold the stream back. Outcomes, failures above all, reach
ClickHouse through the sink.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import faust

from agents.kafka.batches import batches
from agents.kafka.output import KafkaOutput
from agents.kafka.records import decoded
from pipeline.observability import ALERT_DELIVERIES
from pipeline.slipups.alerts import WebhookNotifier, parse_webhooks
from pipeline.topology import BY_NAME
from schemas.slipups import AlertDelivery

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

DELIVERIES_SECONDS = 5.0  # how often finished deliveries are written out


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    webhooks = parse_webhooks(settings.alert_webhooks)
    output = KafkaOutput(settings)
    deliveries = settings.topic("alert_deliveries")
    finished: list[AlertDelivery] = []  # outcomes not yet on chorus.alert_deliveries

    def record(outcome: AlertDelivery) -> None:
        finished.append(outcome)
        ALERT_DELIVERIES.labels("delivered" if outcome.ok else "failed").inc()
        if outcome.ok:
            log.info("alert %s delivered to %s", outcome.alert_id, outcome.url)
        else:
            log.warning(
                "alert %s NOT delivered to %s after %d attempts: %s",
                *(outcome.alert_id, outcome.url, outcome.attempts, outcome.error),
            )

    async def store_deliveries() -> None:
        taken = finished[:]
        del finished[: len(taken)]
        for outcome in taken:
            output.add(deliveries, outcome.alert_id.encode(), outcome)
        await output.flush()

    # Not the decorated function itself: faust's timer wraps it in its loop, which a
    # shutdown would end before the last outcomes are stored.
    app.timer(DELIVERIES_SECONDS, name="monitor-deliveries")(store_deliveries)

    @app.agent(topics["alerts"], name="monitor-notify")
    async def notify(stream: faust.StreamT) -> None:
        notifier = WebhookNotifier(webhooks, record)
        await notifier.start()
        try:
            async for batch in batches(stream, settings):
                for alert in decoded(batch, BY_NAME["alerts"].decoder):
                    notifier.enqueue(alert)
                await batch.ack()
        finally:
            await notifier.close()
            await store_deliveries()
