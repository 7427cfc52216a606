"""The Chorus stream in one place: every topic, every agent, where its output goes.

    chorus.raw ─> ingest ─┬─> chorus.employees ┐
                          ├─> chorus.posts      │
                          ├─> chorus.follows    │ the typed topics
                          ├─> chorus.identity   │
                          ├─> chorus.engagement │
                          ├─> chorus.account_stats
                          └─> chorus.dlq        (bad input, with its reason)

    chorus.employees, identity, account_stats, follows, posts ─> audience (one graph)
        ─> every CHORUS_SNAPSHOT_SECONDS ─> chorus.metrics

    chorus.employees ─> monitor-roster (a GlobalTable: every worker has the roster)
    chorus.posts ─> monitor-scan (policy) ─> chorus.slipups
    chorus.slipups ─> monitor-spikes (one detector) ─> chorus.alerts
    chorus.alerts ─> monitor-notify ─> webhooks ─> chorus.alert_deliveries

    every topic but chorus.raw ─> sink_<topic> ─> ClickHouse (sql/)

The topics, their partitions, retention and readers are declared in
`pipeline/topology.py`; `agents.kafka.admin.declare_topics` creates them
before the worker starts. Each agent module wires its topics to plain logic
in `pipeline/`; the Kafka and faust machinery they share is `agents/kafka/`.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from agents import audience, ingest, monitor, notify, sink
from agents.kafka.admin import consumed_topics
from agents.kafka.lag import LagGauge, LagProbe
from pipeline.observability import exposition
from pipeline.settings import Settings
from pipeline.topology import MAX_MESSAGE_BYTES, TOPICS

# Agent groups (`CHORUS_AGENTS`) and the modules that register their agents.
AGENTS = {
    "ingest": (ingest,),
    "audience": (audience,),
    "sink": (sink,),
    "monitor": (monitor, notify),
}


def create_app(settings: Settings) -> tuple[faust.App, dict[str, faust.TopicT]]:
    """The faust app with the agents this worker runs, and its topics by short name."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=_credentials(settings),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        web_port=settings.worker_port,
        web_host="127.0.0.1",
        # The web server answers whoever reaches it, without authentication: it listens on
        # CHORUS_WORKER_HOST (faust's default is every interface) and serves `/metrics` and
        # faust's health index `/` only. The /table pages would read out the roster and
        # /router the cluster's layout (it serves @table_route, which Chorus does not use).
        web_bind=settings.worker_host,
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        producer_linger_ms=5,
        producer_max_request_size=MAX_MESSAGE_BYTES + (64 << 10),
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        consumer_auto_offset_reset="earliest",
        # A crashed worker's partitions move after 10 s, not faust's default 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # Acked offsets are committed every second, not every 2.8 s: the lag operators see is
        # that much fresher, and a restarted worker reads that much less again.
        broker_commit_interval=1.0,
    )
    topics = {topic.name: app.topic(settings.topic(topic.name)) for topic in TOPICS}
    _observe(app, settings)
    for group, modules in AGENTS.items():
        if settings.runs(group):
            for module in modules:
                module.register(app, topics, settings)
    return app, topics


def _observe(app: faust.App, settings: Settings) -> None:
    """`/metrics` for Prometheus, and the consumer lag it reports, refreshed every 15 s."""

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body, content_type = exposition()
        return web.bytes(body, content_type=content_type)

    gauge = LagGauge(lambda: LagProbe(settings, consumed_topics(settings)))
    app.timer(15.0, name="consumer-lag")(gauge.refresh)


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | ssl.SSLContext | None:
    """faust's form of the Kafka security settings (the other clients take `kafka_options`)."""
    options = settings.kafka_options()
    context = options.get("ssl_context")
    if settings.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_username,
            password=settings.kafka_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return context
