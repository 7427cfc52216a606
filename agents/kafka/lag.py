"""How far the worker is behind: committed offsets of the Chorus consumer groups vs the topics' ends.

The demo and the end-to-end tests wait on it ("everything processed" is a lag
of zero on every topic), and the worker's metrics report it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.observability import CONSUMER_LAG
from pipeline.settings import Settings

log = logging.getLogger(__name__)

K = TypeVar("K", bound=tuple[str, int])  # a (topic, partition) of any client library


class LagProbe:
    """Lag per topic of the Chorus consumer groups, on demand.

    The faust app's group (`settings.app_id`) reads every topic but chorus.raw,
    which the ingest feed reads in its own group (`settings.ingest_group`).
    """

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.group = settings.app_id
        self.raw, self.raw_group = settings.topic("raw"), settings.ingest_group
        self.topics = topics
        options = settings.kafka_options("kafka-python")
        self.admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **options)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, **options)

    def lag(self) -> dict[str, int]:
        lag = dict.fromkeys(self.topics, 0)
        for (topic, _), behind in self.partition_lag().items():
            lag[topic] += behind
        return lag

    def partition_lag(self) -> dict[tuple[str, int], int]:
        partitions = [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in self.consumer.partitions_for_topic(topic) or ()
        ]
        ends = self.consumer.end_offsets(partitions)
        return {
            (tp.topic, tp.partition): max(0, ends[tp] - done)
            for tp, done in self.resume_offsets(partitions).items()
        }

    def resume_offsets(self, partitions: Iterable[K]) -> dict[K, int]:
        """Where its group resumes each (topic, partition): its committed offset, else the log start.

        The log start also when retention deleted past the committed offset.
        """
        tps = {partition: TopicPartition(*partition) for partition in partitions}
        starts = self.consumer.beginning_offsets(list(tps.values()))
        group_of = {
            tp: self.raw_group if tp.topic == self.raw else self.group for tp in tps.values()
        }
        offsets = self.admin.list_group_offsets(dict.fromkeys(group_of.values()))
        resume = {}
        for partition, tp in tps.items():
            committed = offsets.get(group_of[tp], {})
            resume[partition] = max(starts[tp], committed[tp].offset if tp in committed else -1)
        return resume

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


class LagGauge:
    """The worker's `chorus_consumer_lag` gauge, refreshed by a timer.

    An exception in a faust timer crashes the worker: a broker that is restarting
    (its group coordinator still loading, say) costs one reading, and the next one
    opens a new client.
    """

    def __init__(self, open_probe: Callable[[], LagProbe]) -> None:
        self.open_probe = open_probe
        self.probe: LagProbe | None = None

    async def refresh(self) -> None:
        try:
            if self.probe is None:
                self.probe = await asyncio.to_thread(self.open_probe)
            lag = await asyncio.to_thread(self.probe.lag)
        except (KafkaError, OSError) as exc:
            log.warning("consumer lag not measured this time: %r", exc)
            if self.probe is not None:
                probe, self.probe = self.probe, None
                await asyncio.to_thread(probe.close)
            return
        for topic, behind in lag.items():
            CONSUMER_LAG.labels(topic).set(behind)


def wait_until_processed(
    probe: LagProbe,
    snapshot_seconds: float,
    timeout: float = 3600,
    say: Callable[[str], None] | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Until no topic has lag, then two snapshot periods, so the last snapshot has everything.

    `say` hears how many records are left every 5 s; `alive` false (the
    worker died) or the timeout raises.
    """
    deadline = time.monotonic() + timeout
    reported = 0.0

    def drain(what: str) -> None:
        nonlocal reported
        while (behind := sum((lag := probe.partition_lag()).values())) > 0:
            if not alive():
                raise RuntimeError(f"the worker stopped while waiting for {what}")
            if time.monotonic() > deadline:
                where = ", ".join(f"{t}[{p}] {n:,}" for (t, p), n in lag.items() if n)
                raise TimeoutError(
                    f"{behind:,} records left after {timeout:.0f}s waiting for {what} ({where})"
                )
            if say is not None and time.monotonic() - reported > 5:
                say(f"    {behind:,} records still to process")
                reported = time.monotonic()
            time.sleep(0.5)

    drain("every topic to be processed")
    time.sleep(2 * snapshot_seconds + 1)
    drain("the last snapshot to be stored")
