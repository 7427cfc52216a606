"""chorus.raw in fetched batches, shared among workers by weight, committed only once written.

faust spends about 30 µs on every message it delivers, more than ingesting
the event, so chorus.raw is read by `RawFeed`: a plain aiokafka consumer in
its own group (`Settings.ingest_group`) that hands each fetched batch to the
ingest agent through an in-memory faust channel, and commits a batch's
offsets only once the agent's results for it (typed records, dead letters)
are in Kafka, in batch order.

Two faust/aiokafka behaviours shape it. faust clears its channels' queues
when its own group rebalances, which this feed (another group) does not see,
so a batch can vanish between feed and agent: `RawFeed.follows_on` notices
the gap and the feed reads again from the commits instead of committing past
it. And aiokafka 0.14 sends one JoinGroup per assignment strategy offered;
two members offering two each rejoined each other in a loop
(aio-libs/aiokafka#1168), so the feed offers only `WeightedAssignor`.

Why weights: faust gives every one-partition topic (the audience graph, the
monitor, most sinks) to one worker, which was the one the others waited for;
it announces a third of a peer's weight (with two workers and four raw
partitions it ingests one, its peer three), and joins again whenever faust's
assignment changes which worker it is. `tests/test_ingest_feed.py` shows the
commits, the re-reads and the shares on the real broker.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TypeVar

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from pipeline.settings import Settings
from pipeline.topology import TOPICS, Partitioning

K = TypeVar("K", bound=Hashable)  # who receives (a group member)
T = TypeVar("T")  # what is shared (a partition)

log = logging.getLogger(__name__)

# Batches whose results the broker has not confirmed yet while the agent works on the next.
WRITES_IN_FLIGHT = 2
COMMIT_SECONDS = 30.0  # a commit not done by then is not done: its records are read again

# The ingest weights of a worker holding the one-partition topics and of one that does not.
# Measured with `chorus bench pipeline` (two workers, four raw partitions): the holder's own
# work is about that of ingesting three partitions. 1:3 (it ingests one) beat 0:4 (its peer was
# then the one waited for); with eight partitions, 1:7 gained nothing over 1:3 of four.
HOLDER_WEIGHT, PEER_WEIGHT = 1.0, 3.0


class WeightedAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Kafka's group protocol for chorus.raw: partitions shared by the weights members announce.

    The leader splits each topic's partitions with `apportion`.
    The only strategy the feed offers: aiokafka 0.14 sends one JoinGroup per
    strategy listed, and two members offering two each rejoined each other in
    a loop (aio-libs/aiokafka#1168). So a Chorus that predates it (round-robin)
    cannot share the ingest group: stop old workers before starting new ones.
    """

    name = "chorus-weighted"
    version = 0

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(
            self.version, list(topics), repr(self.weight).encode()
        )

    def assign(
        self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        weights = {member: _weight(metadata.user_data) for member, metadata in members.items()}
        shares: dict[str, list[tuple[str, list[int]]]] = {member: [] for member in members}
        for topic in sorted({topic for m in members.values() for topic in m.subscription}):
            subscribed = {m: w for m, w in weights.items() if topic in members[m].subscription}
            partitions = sorted(cluster.partitions_for_topic(topic) or ())
            for member, run in apportion(partitions, subscribed).items():
                shares[member].append((topic, run))
        return {
            member: ConsumerProtocolMemberAssignment(self.version, share, b"")
            for member, share in shares.items()
        }

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


def _weight(user_data: bytes) -> float:
    try:
        weight = float(user_data)
    except ValueError:
        return PEER_WEIGHT
    return weight if weight > 0 else PEER_WEIGHT


@dataclass(frozen=True)
class RawBatch:
    """What one fetch returned, in offset order per partition, and the feed state it belongs to."""

    records: list[ConsumerRecord[bytes, bytes]]
    starts: dict[TopicPartition, int]  # per partition: the offset of its first record
    ends: dict[TopicPartition, int]  # per partition: the offset after its last record
    generation: int


class RawFeed(ConsumerRebalanceListener):  # type: ignore[misc]
    """Reads chorus.raw for the ingest agent in fetched batches; commits them when told."""

    def __init__(
        self,
        settings: Settings,
        channel: faust.ChannelT,
        weight: Callable[[], float] = lambda: PEER_WEIGHT,
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.weight = weight  # what this worker announces to the group (`WeightedAssignor`)
        self.generation = 0  # bumped when fetched batches must be dropped
        self.next_offsets: dict[TopicPartition, int] = {}  # per partition: next batch's start
        self.consumer: AIOKafkaConsumer
        self._settling: deque[asyncio.Future[None]] = deque()  # not yet committed, oldest first
        # Per partition: where the group's commit stands, as far as this feed knows it.
        self._committed: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        """Until the worker's weight changes (the caller then runs it again, to join anew)."""
        settings = self.settings
        weight = self.weight()
        consumer = self.consumer = AIOKafkaConsumer(  # in the worker's loop, which starts later
            bootstrap_servers=settings.bootstrap_servers,
            **settings.kafka_options(),
            group_id=settings.ingest_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 << 20,
            session_timeout_ms=10_000,  # as the faust group: a dead worker's partitions move in 10 s
            heartbeat_interval_ms=1_000,
            partition_assignment_strategy=(WeightedAssignor(weight),),
        )
        await consumer.start()
        self._drop_fetched()  # a new consumer: what an earlier one fetched is not ours to commit
        try:
            consumer.subscribe([self.settings.topic("raw")], listener=self)
            while (now := self.weight()) == weight:
                fetched = await consumer.getmany(
                    timeout_ms=int(self.settings.batch_seconds * 1000),
                    max_records=self.settings.batch_rows,
                )
                records = [record for batch in fetched.values() for record in batch]
                if records:
                    parts = [(tp, batch) for tp, batch in fetched.items() if batch]
                    batch = RawBatch(
                        records,
                        {tp: batch[0].offset for tp, batch in parts},
                        {tp: batch[-1].offset + 1 for tp, batch in parts},
                        self.generation,
                    )
                    # An in-memory channel hands any value to its stream as it is (no event needed).
                    await self.channel.put(batch)  # type: ignore[arg-type]
            log.info("ingest weight %g -> %g: joining the ingest group again", weight, now)
        finally:
            # Before it stops: a batch it fetched must not commit through it, or through the
            # next one (a commit on a stopping consumer can wait for ever, and so the agent).
            self._drop_fetched()
            await consumer.stop()

    async def keep_reading(self, app: faust.App, wait_for_assignment: bool) -> None:
        """`run` for as long as the worker lives (a faust task).

        `wait_for_assignment`: the worker also reads topics through faust's
        group, whose first assignment decides this worker's weight.
        """
        while wait_for_assignment and app.consumer_generation_id == 0:
            await asyncio.sleep(0.1)
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                # faust can cancel a future this task awaits without cancelling the task (its
                # channel's put, while its own group rebalances): read on.
                task = asyncio.current_task()
                if app.should_stop or task is None or task.cancelling():
                    raise
                log.info("reading chorus.raw was interrupted by a rebalance; starting again")

    async def batches(self, stream: faust.StreamT[RawBatch]) -> AsyncIterator[RawBatch]:
        """The fetched batches to ingest: current ones, each following on from the last."""
        async for batch in stream:
            if not self.current(batch):
                continue
            if not self.follows_on(batch):
                log.warning("a fetched batch of chorus.raw went missing; reading it again")
                await self.again()
                continue
            yield batch

    async def written(self, batch: RawBatch, delivered: Awaitable[object]) -> None:
        """The batch's results were handed to the producer: commit it once they are in Kafka.

        Returns at once while at most `WRITES_IN_FLIGHT` batches are unconfirmed,
        so the agent works on the next batch while the broker confirms this one.
        """
        previous = self._settling[-1] if self._settling else None
        self._settling.append(asyncio.ensure_future(self.settle(batch, delivered, previous)))
        while len(self._settling) > WRITES_IN_FLIGHT or (
            self._settling and self._settling[0].done()
        ):
            await self._settling.popleft()

    def current(self, batch: RawBatch) -> bool:
        return batch.generation == self.generation

    def follows_on(self, batch: RawBatch) -> bool:
        """Whether the batch starts where the last one handed out ended, on every partition.

        faust clears its channels' queues when its own group rebalances, which
        this feed (another group) does not see: a batch can vanish between the
        feed and the agent. Committing the batches after it would lose its
        records, so the agent checks this first and, on a gap, has the feed
        read again from the commits. (Ingest never raises on an input, so a
        batch handed out is a batch written.)
        """
        if any(self.next_offsets.get(tp, start) != start for tp, start in batch.starts.items()):
            return False
        self.next_offsets.update(batch.ends)
        return True

    async def done(self, batch: RawBatch) -> None:
        """The batch's results are in Kafka: commit its offsets (unless it was dropped meanwhile).

        Never past a record nobody ingested: the batch must start where the
        group's commit stands on each of its partitions (as this feed last
        committed or read it from the broker). A batch that starts further on
        (one before it vanished in a way `follows_on` could not see, around a
        rebalance) is not committed, and the feed reads again from the commits.
        """
        if not self.current(batch):
            return
        try:
            await asyncio.wait_for(self._commit(batch), COMMIT_SECONDS)
        except TimeoutError:
            log.info(
                "raw offsets not committed in %gs; the records will be read again", COMMIT_SECONDS
            )
        except KafkaError as exc:  # a rebalance took the partitions: their new owner reads them
            log.info("raw offsets not committed (%s); the records will be read again", exc)

    async def _commit(self, batch: RawBatch) -> None:
        consumer = self.consumer
        for tp in batch.starts:
            if tp not in self._committed:
                committed = await consumer.committed(tp)
                first = (await consumer.beginning_offsets([tp]))[tp]
                self._committed[tp] = max(first, committed or 0)
        if not self.current(batch):
            return
        gaps = {
            tp: self._committed[tp]
            for tp, start in batch.starts.items()
            if start > self._committed[tp]
        }
        if gaps:
            log.warning(
                "a batch of chorus.raw starts past the commits (%s); reading them again",
                ", ".join(f"{tp.partition}: {batch.starts[tp]} > {at}" for tp, at in gaps.items()),
            )
            await self.again()
            return
        await consumer.commit(batch.ends)
        self._committed.update(batch.ends)

    async def settle(
        self, batch: RawBatch, delivered: Awaitable[object], previous: Awaitable[None] | None
    ) -> None:
        """Commit the batch once its results are in Kafka and the batch before it is settled.

        A failed write has the feed read again from the commits; the batches
        fetched before that are then not current any more, so none of them
        commits past the failed one.
        """
        if previous is not None:
            await previous
        try:
            await delivered
        except (KafkaError, TimeoutError) as exc:
            if self.current(batch):
                log.warning("writing ingest results failed (%s); reading chorus.raw again", exc)
                await self.again()
            return
        await self.done(batch)

    async def again(self) -> None:
        """A write failed or a batch went missing: drop what was fetched, read from the commits."""
        self._drop_fetched()
        assigned = self.consumer.assignment()
        starts = await self.consumer.beginning_offsets(list(assigned))
        for tp in assigned:
            # Not `seek_to_committed`: it leaves a partition committed at 0, or not at all, as is.
            committed = await self.consumer.committed(tp)
            self.consumer.seek(tp, max(starts[tp], committed or 0))
        self._drop_fetched()  # and what came in while the commits were being looked up

    def _drop_fetched(self) -> None:
        self.generation += 1
        self.next_offsets.clear()
        self._committed.clear()  # a rebalance may hand partitions to others, who commit them

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._drop_fetched()  # what was fetched may go to another worker

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # aiokafka resumes them at their commits; nothing fetched is left to drop.
        log.info(
            "ingesting %s partitions %s (weight %g)",
            self.settings.topic("raw"),
            sorted(tp.partition for tp in assigned),
            self.weight(),
        )


def holder_weight(app: faust.App, settings: Settings) -> Callable[[], float]:
    """The weight this worker announces: small while it holds the one-partition topics."""
    one_partition = {
        settings.topic(topic.name) for topic in TOPICS if topic.partitioning is Partitioning.ONE
    }
    held = False

    def weight() -> float:
        nonlocal held
        if not app.rebalancing:  # meanwhile the assignment is half-made: keep the last answer
            held = any(tp.topic in one_partition for tp in app.consumer.assignment())
        return HOLDER_WEIGHT if held else PEER_WEIGHT

    return weight


def apportion(items: Sequence[T], weights: Mapping[K, float]) -> dict[K, list[T]]:
    """Split `items`, in order, into runs sized in proportion to positive `weights`.

    Largest remainders, ties in key order: every member of a group computes
    the same split.
    """
    keys = sorted(weights, key=repr)
    total = sum(weights.values())
    quotas = {key: len(items) * weights[key] / total for key in keys}
    counts = {key: math.floor(quota) for key, quota in quotas.items()}
    by_remainder = sorted(keys, key=lambda key: counts[key] - quotas[key])  # stable: key order
    for key in by_remainder[: len(items) - sum(counts.values())]:
        counts[key] += 1
    runs: dict[K, list[T]] = {}
    start = 0
    for key in keys:
        runs[key] = list(items[start : start + counts[key]])
        start += counts[key]
    return runs
