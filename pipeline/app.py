"""The Chorus stream in one place: every topic, every agent, where its output goes.

    chorus.raw ─> ingest ─┬─> chorus.employees ┐
                          ├─> chorus.posts      │
                          ├─> chorus.follows    │ the typed topics
                          ├─> chorus.identity   │
                          ├─> chorus.engagement │
                          ├─> chorus.account_stats
                          └─> chorus.dlq        (bad input, with its reason)

    chorus.employees, follows, identity, account_stats, posts ─> audience (one graph)
        ─> every CHORUS_SNAPSHOT_SECONDS ─> chorus.metrics

    every typed and computed topic, chorus.dlq ─> sink_<topic> ─> ClickHouse (sql/)

    chorus.employees ─> monitor-roster (a GlobalTable: every worker has the roster)
    chorus.posts ─> monitor-scan (policy) ─> chorus.slipups
    chorus.slipups ─> monitor-spikes (one detector) ─> chorus.alerts ─> monitor-notify ─> webhooks
        ─> chorus.alert_deliveries (every outcome: delivered, or failed after retries)

`declare_topics` creates them all before the worker starts, with their
partitions; the topics the audience graph is made of keep everything
(`retention.ms=-1`): after a restart the audience agent rebuilds its graph by
reading them from the start.

chorus.raw holds one JSON event per message, as producers send them; faust's
per-message machinery costs more than Chorus's work on an event, so the ingest
agent gets chorus.raw in fetched batches from its own consumer (group
`Settings.ingest_group`, see `agents/ingest.py`), and every topic Chorus writes
holds micro-batches of records, as columns (`agents.KafkaOutput`,
`schemas.columnar`): faust's cost is paid once per batch.
Topics whose consumer keeps one global state (the audience graph, the spike
detector) have one partition; the others (raw, engagement) have
`CHORUS_PARTITIONS`. Posts have one partition so that the spike detector sees
them in event-time order (see `pipeline.ingest.raw_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import faust
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from agents import audience, ingest, monitor, sink
from pipeline.lag import LagProbe
from pipeline.observability import CONSUMER_LAG, exposition
from pipeline.settings import Settings
from pipeline.slipups.alerts import parse_webhooks


@dataclass(frozen=True)
class Topics:
    raw: faust.TopicT
    dlq: faust.TopicT
    employees: faust.TopicT
    posts: faust.TopicT
    follows: faust.TopicT
    identity: faust.TopicT
    engagement: faust.TopicT
    account_stats: faust.TopicT
    slipups: faust.TopicT
    alerts: faust.TopicT
    metrics: faust.TopicT
    alert_deliveries: faust.TopicT

    def typed(self, route: str) -> faust.TopicT:
        """The typed topic of an ingest route (`pipeline.ingest.ROUTES`)."""
        topic: faust.TopicT = getattr(self, route)
        return topic


# Topics with one global state downstream: one partition.
SINGLE_PARTITION = {
    "dlq",
    "employees",
    "follows",
    "identity",
    "posts",
    "account_stats",
    "slipups",
    "alerts",
    "metrics",
    "alert_deliveries",
}
# What the audience graph is rebuilt from: kept for ever.
KEPT_FOR_EVER = {"employees", "follows", "identity", "account_stats", "posts", "slipups"}


def topic_names(settings: Settings) -> list[str]:
    """The full name of every Chorus topic."""
    return [settings.topic(f.name) for f in fields(Topics)]


def declare_topics(settings: Settings) -> None:
    """Create every Chorus topic that does not exist yet (existing ones are left as they are)."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_options("kafka-python")
    )
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                settings.topic(name),
                num_partitions=1 if name in SINGLE_PARTITION else settings.partitions,
                replication_factor=-1,
                topic_configs={"retention.ms": "-1"} if name in KEPT_FOR_EVER else {},
            )
            for name in (f.name for f in fields(Topics))
            if settings.topic(name) not in existing
        ]
        if missing:
            # Another worker may have been quicker.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


def delete_topics(settings: Settings) -> None:
    """Delete a namespace's topics, faust's own (`<app id>-...`) included.

    Benchmarks and tests make a namespace per run; some topics are kept for
    ever, so without this every run would stay on the broker's disk.
    """
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_options("kafka-python")
    )
    try:
        ours = [
            topic
            for topic in admin.list_topics()
            if topic.startswith((f"{settings.topic_prefix}.", f"{settings.app_id}-"))
        ]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def observe(app: faust.App, settings: Settings) -> None:
    """`/metrics` for Prometheus, and the consumer lag it reports, refreshed every 15 s."""

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body, content_type = exposition()
        return web.bytes(body, content_type=content_type)

    probe: list[LagProbe] = []

    @app.timer(15.0, name="consumer-lag")
    async def measure_lag() -> None:
        if not probe:
            probe.append(LagProbe(settings, topic_names(settings)))
        for topic, lag in (await asyncio.to_thread(probe[0].lag)).items():
            CONSUMER_LAG.labels(topic).set(lag)


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


def create_app(settings: Settings) -> tuple[faust.App, Topics]:
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
        producer_linger_ms=5,
        consumer_auto_offset_reset="earliest",
        # A crashed worker's partitions move after 10 s, not faust's default 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        # Offsets acked by the agents are committed every second, not every 2.8 s: the lag that
        # operators (and `wait_until_processed`) see is that much fresher, and a restarted worker
        # reads that much less again. An OffsetCommit a second per worker costs nothing.
        broker_commit_interval=1.0,
    )

    topics = Topics(**{f.name: app.topic(settings.topic(f.name)) for f in fields(Topics)})
    observe(app, settings)
    if settings.runs("ingest"):
        ingest.register(app, topics, settings, {settings.topic(n) for n in SINGLE_PARTITION})
    if settings.runs("audience"):
        audience.register(app, topics, settings)
    if settings.runs("sink"):
        sink.register(app, topics, settings)
    if settings.runs("monitor"):
        monitor.register(
            app,
            topics,
            settings,
            policy_path=Path(settings.policy_file) if settings.policy_file else None,
            webhooks=parse_webhooks(settings.alert_webhooks),
        )
    return app, topics
