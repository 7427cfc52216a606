"""The sink agents for real: faust in-process, the real broker, ClickHouse; replays and an outage.

Only the sink agents run, on topics of their own (a unique prefix) and a
database of their own. The chaos test stops a private ClickHouse server of its
own, never the shared one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaProducer
from clickhouse_driver import Client
from kafka.admin import KafkaAdminClient, NewTopic

from agents import sink
from agents.kafka.output import KafkaOutput
from pipeline import warehouse
from pipeline.services.local import ClickHouse
from pipeline.settings import Settings
from pipeline.topology import TOPICS
from schemas.events import Post

PARTITIONS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def posts(n: int, start: int = 0) -> list[Post]:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return [
        Post(event_id=f"ev{i}", occurred_at=t0 + timedelta(seconds=i), post_id=f"post{i}",
             employee_id=f"emp{i % 7}", network="x", account_id=f"@emp{i % 7}", text="hi")
        for i in range(start, start + n)
    ]  # fmt: skip


def sink_settings(namespace: Settings, database: str, **overrides: object) -> Settings:
    return replace(
        namespace,
        clickhouse_database=database,
        batch_rows=500,
        insert_rows=500,
        batch_seconds=0.2,
        **overrides,  # type: ignore[arg-type]
    )


def sink_app(settings: Settings) -> tuple[faust.App, dict[str, faust.TopicT]]:
    """A faust app with only the sink agents, its topics created first (a group sees only those)."""
    names = [topic.name for topic in TOPICS]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    admin.create_topics(
        [
            NewTopic(settings.topic(n), num_partitions=PARTITIONS, replication_factor=1)
            for n in names
        ]
    )
    admin.close()
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
    )
    topics = {n: app.topic(settings.topic(n), partitions=PARTITIONS) for n in names}
    sink.register(app, topics, settings)
    return app, topics


async def produce(settings: Settings, topic: str, records: list[Post]) -> None:
    """Write records as Chorus's agents do: micro-batch messages, keyed over the partitions.

    Small micro-batches, so that a sink batch spans several messages.
    """
    output = KafkaOutput(settings, max_records=100)
    try:
        for i, record in enumerate(records):
            output.add(settings.topic(topic), str(i).encode(), record)
        await output.flush()
    finally:
        await output.stop()


async def produce_junk(settings: Settings, topic: str, values: list[bytes]) -> None:
    """Messages that are not Chorus's, as a stranger's producer could write them."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_options()
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topic(topic), value, partition=0)
    finally:
        await producer.stop()


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_sink_agents_store_every_event_once_even_when_replayed(
    kafka_bootstrap: str, clickhouse: Client, namespace: Settings
) -> None:
    n = 1200
    config = sink_settings(namespace, clickhouse.connection.database)
    warehouse.Migrator(clickhouse.execute, warehouse.load_migrations()).migrate()
    app, _ = sink_app(config)
    batch = posts(n)

    def counts() -> tuple[int, int, int]:
        [(rolled_up,)] = clickhouse.execute("SELECT sum(posts) FROM daily_activity")
        [(final,)] = clickhouse.execute("SELECT count() FROM posts FINAL")
        [(dead,)] = clickhouse.execute("SELECT count() FROM dead_letters FINAL")
        return int(rolled_up), int(final), int(dead)

    async def run() -> None:
        await app.start()
        try:
            await produce(config, "posts", batch)
            await wait_for(lambda: counts()[:2] == (n, n), 90, f"{n} posts in the views")
            # The replay, then two messages that do not decode, among their partition's own.
            await produce(config, "posts", batch)
            await produce_junk(config, "posts", [b'{"not": "a post"}', b"\xff"])
            await produce(config, "posts", posts(10))
            await wait_for(lambda: counts()[2] == 2, 90, "the two dead letters")
        finally:
            await app.stop()

    asyncio.run(run())
    assert counts() == (n, n, 2)
    [(stored,)] = clickhouse.execute("SELECT count() FROM posts")
    assert n <= stored <= 2 * n  # copies stay until merges; the views never count them
    reasons = clickhouse.execute("SELECT DISTINCT reason, topic FROM dead_letters")
    assert reasons == [("sink_decode", config.topic("posts"))]


@pytest.mark.clickhouse
def test_inserting_the_same_batch_twice_counts_once(clickhouse: Client) -> None:
    warehouse.Migrator(clickhouse.execute, warehouse.load_migrations()).migrate()
    table = warehouse.TABLES[Post]
    records = posts(300)
    for _ in range(2):
        warehouse.insert_columns(clickhouse, table, table.to_columns(records))
    assert clickhouse.execute("SELECT sum(posts) FROM daily_activity") == [(300,)]
    assert clickhouse.execute("SELECT count() FROM engagement_per_post") == [(300,)]
    assert clickhouse.execute("SELECT sum(posts) FROM slipup_rate_weekly") == [(300,)]


@pytest.mark.chaos
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_stopping_clickhouse_mid_stream_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str,
    namespace: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    private = Settings(
        state_dir=tmp_path, clickhouse_port=free_port(), clickhouse_http_port=free_port()
    )
    server = ClickHouse(private)
    server.up(print)
    config = sink_settings(namespace, "chorus", clickhouse_port=private.clickhouse_port)
    client = warehouse.client(config, connect_timeout=2, send_receive_timeout=10)
    try:
        warehouse.migrator(config).migrate()
        app, _ = sink_app(config)
        n = 3000

        def stored() -> int:
            try:
                [(rolled_up,)] = client.execute("SELECT sum(posts) FROM daily_activity")
            except warehouse.TRANSIENT_ERRORS as exc:  # the server is stopped
                print("query failed:", exc)
                return -1
            return int(rolled_up)

        async def run() -> None:
            await app.start()
            try:
                await produce(config, "posts", posts(n // 2))
                await wait_for(lambda: stored() == n // 2, 90, "the first half")
                server.down(print)
                await produce(config, "posts", posts(n // 2, start=n // 2))
                await asyncio.sleep(30)  # the sinks retry meanwhile
                server.up(print)
                # And a replay of everything on top, while catching up.
                await produce(config, "posts", posts(n))
                await wait_for(lambda: stored() == n, 180, "every post after the outage")
                await asyncio.sleep(3)  # let the replay land too
            finally:
                await app.stop()

        with caplog.at_level(logging.INFO, logger="pipeline.sink"):
            asyncio.run(run())
        assert stored() == n
        assert client.execute("SELECT count(), uniqExact(event_id) FROM posts FINAL") == [(n, n)]
        outage_lines = [r for r in caplog.records if r.name == "pipeline.sink"]
        assert [r.levelname for r in outage_lines] == ["WARNING", "INFO"], outage_lines
    finally:
        client.disconnect()
        server.down(print)
