"""The real services answer: Kafka through both Python clients and faust, ClickHouse through clickhouse-driver."""

from __future__ import annotations

import asyncio

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from clickhouse_driver import Client
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.settings import Settings


@pytest.mark.kafka
def test_kafka_python_round_trip(kafka_bootstrap: str, unique_topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(3):
        producer.send(unique_topic, key=b"k", value=f"m{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        unique_topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    values = [message.value for _, message in zip(range(3), consumer, strict=False)]
    consumer.close()
    assert values == [b"m0", b"m1", b"m2"]


@pytest.mark.kafka
def test_aiokafka_round_trip(kafka_bootstrap: str, unique_topic: str) -> None:
    async def round_trip() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(unique_topic, b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            unique_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=20)
            return [message.value]
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip()) == [b"hello"]


class Greeting(faust.Record, serializer="json"):
    name: str
    count: int


@pytest.mark.kafka
def test_faust_app_round_trips_a_record(
    kafka_bootstrap: str, unique_topic: str, namespace: Settings
) -> None:
    # A consumer group only sees topics that exist when it joins.
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(unique_topic, num_partitions=1, replication_factor=1)])
    admin.close()
    app = faust.App(
        namespace.app_id,
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=1,
    )
    topic = app.topic(unique_topic, value_type=Greeting)
    received: list[Greeting] = []

    @app.agent(topic)
    async def collect(stream: faust.StreamT) -> None:
        async for greeting in stream:
            received.append(greeting)

    async def run() -> None:
        await app.start()
        try:
            await topic.send(value=Greeting(name="chorus", count=1))
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.1)
        finally:
            await app.stop()

    asyncio.run(run())
    assert received == [Greeting(name="chorus", count=1)]


@pytest.mark.clickhouse
def test_clickhouse_write_and_read(clickhouse: Client) -> None:
    clickhouse.execute("CREATE TABLE smoke (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    clickhouse.execute("INSERT INTO smoke (id, name) VALUES", [(1, "a"), (2, "b")])
    assert clickhouse.execute("SELECT count(), sum(id) FROM smoke") == [(2, 3)]
