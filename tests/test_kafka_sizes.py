"""Sizes on the real broker: no record stalls a partition, whatever its size or the topic's limit.

`agents.kafka.output.KafkaOutput` refuses, before sending, a single record
larger than the topics take, and splits a message the broker refuses for its
size, down to one record, which then becomes a dead letter. The records
around them arrive, in order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from agents.kafka.admin import declare_topics
from agents.kafka.output import OUTPUT_TOO_LARGE, KafkaOutput
from pipeline.settings import Settings
from pipeline.topology import BY_NAME
from schemas.events import Post
from tests.support import topic_records

T = datetime(2026, 3, 2, tzinfo=UTC)


def post(i: int, length: int) -> Post:
    return Post(event_id=f"post-{i}", occurred_at=T, post_id=f"p{i}", employee_id="ada",
                network="x", account_id="@ada", text="y" * length)  # fmt: skip


async def write(settings: Settings, posts: list[Post], **limits: int) -> None:
    output = KafkaOutput(settings, **limits)
    try:
        for record in posts:
            output.add(settings.topic("posts"), b"ada", record)
        await output.flush()
    finally:
        await output.stop()


@pytest.mark.kafka
def test_a_record_larger_than_the_topics_take_is_a_dead_letter_and_the_rest_arrive(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    declare_topics(namespace)
    posts = [post(1, 100), post(2, 20_000), post(3, 100)]
    asyncio.run(write(namespace, posts, max_message_bytes=10_000, max_bytes=1_000))
    arrived = topic_records(kafka_bootstrap, namespace.topic("posts"), BY_NAME["posts"].decoder)
    assert [p.event_id for p in arrived] == ["post-1", "post-3"]
    [letter] = topic_records(kafka_bootstrap, namespace.topic("dlq"), BY_NAME["dlq"].decoder)
    assert letter.reason == OUTPUT_TOO_LARGE and letter.topic == namespace.topic("posts")
    assert letter.size > 20_000 and b"post-2" in letter.raw and len(letter.digest) == 32


@pytest.mark.kafka
def test_a_message_the_broker_refuses_for_its_size_is_split_down_to_one_record(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics(  # a topic made elsewhere, with a lower limit than Chorus's
        [NewTopic(namespace.topic("posts"), 1, 1, topic_configs={"max.message.bytes": "6000"})]
    )
    admin.close()
    declare_topics(namespace)  # the others; an existing topic is left as it is
    posts = [post(i, 1_500) for i in range(8)] + [post(8, 9_000), post(9, 100)]
    asyncio.run(write(namespace, posts))  # one message of ~25 KB: refused, then split
    arrived = topic_records(kafka_bootstrap, namespace.topic("posts"), BY_NAME["posts"].decoder)
    assert [p.event_id for p in arrived] == [f"post-{i}" for i in (*range(8), 9)]
    [letter] = topic_records(kafka_bootstrap, namespace.topic("dlq"), BY_NAME["dlq"].decoder)
    assert letter.reason == OUTPUT_TOO_LARGE and b"post-8" in letter.raw
