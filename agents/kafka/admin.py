"""Creating and deleting Chorus's topics on the broker, as `pipeline.topology` declares them.

Topics are created before a worker starts (faust would otherwise create them
on first use with its own defaults: the wrong partition counts and a
retention that deletes what the audience graph is rebuilt from). An existing
topic is left as it is: changing partitions moves keys between them.
"""

from __future__ import annotations

import contextlib

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipeline.settings import Settings
from pipeline.topology import TOPICS


def consumed_topics(settings: Settings) -> list[str]:
    """The full name of every topic the workers consume: those whose lag says what is left to do.

    chorus.connector_state is not among them: no agent reads it.
    """
    return [settings.topic(topic.name) for topic in TOPICS if topic.readers]


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_options("kafka-python")
    )


def declare_topics(settings: Settings) -> None:
    """Create every Chorus topic that does not exist yet."""
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                settings.topic(topic.name),
                num_partitions=topic.partitions(settings.partitions),
                replication_factor=-1,
                topic_configs=topic.config,
            )
            for topic in TOPICS
            if settings.topic(topic.name) not in existing
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
    admin = _admin(settings)
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
