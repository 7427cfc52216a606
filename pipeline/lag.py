"""How far the worker is behind: committed offsets of the Chorus consumer group vs the topics' ends.

The demo and the end-to-end tests wait on it ("everything processed" is a lag
of zero on every topic), and the worker's metrics report it.
"""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from pipeline.settings import Settings


class LagProbe:
    """Lag per topic of the consumer group `settings.app_id`, on demand."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.group = settings.app_id
        self.topics = topics
        options = settings.kafka_options("kafka-python")
        self.admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **options)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, **options)

    def lag(self) -> dict[str, int]:
        partitions = [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in self.consumer.partitions_for_topic(topic) or ()
        ]
        ends = self.consumer.end_offsets(partitions)
        starts = self.consumer.beginning_offsets(partitions)
        committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        lag = dict.fromkeys(self.topics, 0)
        for tp in partitions:
            done = (
                committed[tp].offset
                if tp in committed and committed[tp].offset >= 0
                else starts[tp]
            )
            lag[tp.topic] += max(0, ends[tp] - done)
        return lag

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()
