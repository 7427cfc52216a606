"""chorus.raw -> the typed topics, or chorus.dlq with the reason.

chorus.raw holds one event per message, as producers send them, and faust
spends about 30 µs on every message it delivers: more than the ingest work
itself, and a bound on the whole pipeline. So chorus.raw is read in fetched
batches: `RawFeed`, a plain aiokafka consumer in the consumer group
`Settings.ingest_group`, puts each fetched batch on an in-memory faust channel,
and the ingest agent runs it through `pipeline.ingest.Ingestor`, hands the results
to the producer and has the feed commit the batch's offsets once the broker
confirmed them: an offset is committed only once its typed event or dead letter
is in Kafka. The agent works on the next batch meanwhile (`WRITES_IN_FLIGHT`):
waiting for the broker and the group coordinator batch by batch left the
worker idle for a third of the time. Commits stay in batch order.

A batch that fetched before a rebalance, or before a failed write made the
feed read its partitions again from their committed offsets, is dropped
uncommitted: its records come again (at least once; everything downstream
collapses copies).

The worker that holds the one-partition topics (faust gives all of them to one
worker: the audience graph, the monitor, most sinks) was the one the others
waited for, so the ingest group shares chorus.raw by weight
(`WeightedAssignor`): that worker announces a third of the weight of a peer
(with two workers and four partitions it ingests one, its peer three), and its
feed joins again whenever faust's assignment changes which worker that is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import faust
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from agents import KafkaOutput
from pipeline.balance import apportion
from pipeline.ingest import ROUTES, Accepted, Ingestor, pseudonymiser_from_env
from pipeline.observability import DEAD_LETTERS, RECORDS_IN
from schemas.dead_letter import DeadLetter

if TYPE_CHECKING:
    from pipeline.app import Topics
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

# Batches whose results the broker has not confirmed yet while the agent works on the next.
WRITES_IN_FLIGHT = 2

# The ingest weights of a worker holding the one-partition topics and of one that does not.
# Measured with `chorus bench pipeline` (two workers, four raw partitions): the holder's own
# work is about that of ingesting three partitions. 1:3 (it ingests one) beat 0:4 (its peer was
# then the one waited for); with eight partitions, 1:7 gained nothing over 1:3 of four.
HOLDER_WEIGHT, PEER_WEIGHT = 1.0, 3.0


class WeightedAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Kafka's group protocol for chorus.raw: partitions shared by the weights members announce.

    The leader splits each topic's partitions with `pipeline.balance.apportion`.
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
            await consumer.stop()

    def current(self, batch: RawBatch) -> bool:
        return batch.generation == self.generation

    def follows_on(self, batch: RawBatch) -> bool:
        """Whether the batch starts where the last one handed out ended, on every partition.

        faust clears its channels' queues when its own group rebalances, which
        this feed (another group) does not see: a batch can vanish between the
        feed and the agent. Committing the batches after it would lose its
        records, so the agent checks this first and, on a gap, has the feed
        read again from the commits.
        """
        if any(self.next_offsets.get(tp, start) != start for tp, start in batch.starts.items()):
            return False
        self.next_offsets.update(batch.ends)
        return True

    async def done(self, batch: RawBatch) -> None:
        """The batch's results are in Kafka: commit its offsets (unless it was dropped meanwhile)."""
        if not self.current(batch):
            return
        try:
            await self.consumer.commit(batch.ends)
        except KafkaError as exc:  # a rebalance took the partitions: their new owner reads them
            log.info("raw offsets not committed (%s); the records will be read again", exc)

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


def register(app: faust.App, topics: Topics, settings: Settings, one_partition: set[str]) -> None:
    """`one_partition`: the full names of the one-partition topics (`pipeline.app`)."""
    ingestor = Ingestor(pseudonymiser_from_env(settings.environment))
    output = KafkaOutput(settings)
    raw = topics.raw.get_topic_name()
    dlq = topics.dlq.get_topic_name()
    typed = {route: topics.typed(route).get_topic_name() for route in ROUTES.values()}
    fetched = app.channel(maxsize=2)  # backpressure: the feed reads ahead by two batches
    # Every agent but ingest reads topics through faust's group; one-partition topics all go to
    # one worker, which then takes a smaller share of chorus.raw.
    reads_topics = any(settings.runs(group) for group in ("audience", "sink", "monitor"))

    held = False

    def weight() -> float:
        nonlocal held
        if not app.rebalancing:  # meanwhile the assignment is half-made: keep the last answer
            held = any(tp.topic in one_partition for tp in app.consumer.assignment())
        return HOLDER_WEIGHT if held else PEER_WEIGHT

    feed = RawFeed(settings, fetched, weight)

    @app.task
    async def read_raw() -> None:
        while reads_topics and app.consumer_generation_id == 0:
            await asyncio.sleep(0.1)  # faust's first assignment says which weight this worker has
        while True:
            try:
                await feed.run()
            except asyncio.CancelledError:
                # faust can cancel a future this task awaits without cancelling the task (seen
                # on the channel's put while faust's own group rebalanced): read on.
                task = asyncio.current_task()
                if app.should_stop or task is None or task.cancelling():
                    raise
                log.info("reading %s was interrupted by a rebalance; starting again", raw)

    @app.agent(fetched, name="ingest")
    async def ingest(stream: faust.StreamT[RawBatch]) -> None:
        settling: deque[asyncio.Future[None]] = deque()  # batches not yet committed, oldest first
        async for batch in stream:
            if not feed.current(batch):
                continue
            if not feed.follows_on(batch):
                log.warning("a fetched batch of %s went missing; reading it again", raw)
                await feed.again()
                continue
            RECORDS_IN.labels(raw).inc(len(batch.records))
            outcomes = ingestor.process_batch([record.value or b"" for record in batch.records])
            for message, outcome in zip(batch.records, outcomes, strict=True):
                record: msgspec.Struct
                if isinstance(outcome, Accepted):
                    target, key, record = typed[outcome.route], outcome.key, outcome.event
                else:
                    target, key = dlq, None
                    DEAD_LETTERS.labels(outcome.reason.value).inc()
                    record = DeadLetter(
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        raw=message.value or b"",
                        reason=outcome.reason.value,
                        message=outcome.message,
                        failed_at=datetime.now(UTC),
                    )
                output.add(target, key, record)
            delivered = await output.send()
            previous = settling[-1] if settling else None
            settling.append(asyncio.ensure_future(feed.settle(batch, delivered, previous)))
            while len(settling) > WRITES_IN_FLIGHT or (settling and settling[0].done()):
                await settling.popleft()
