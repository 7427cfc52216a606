"""The ingest feed on the real broker: batches committed only when done, read again after a failure."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from functools import partial

import pytest
from aiokafka import TopicPartition

from agents.kafka.admin import declare_topics
from agents.kafka.lag import LagProbe
from agents.kafka.producer import produce
from agents.kafka.raw_feed import HOLDER_WEIGHT, PEER_WEIGHT, RawBatch, RawFeed
from pipeline.settings import Settings

pytestmark = pytest.mark.kafka


class Handoff:
    """Stands in for the faust channel: the test takes the feed's batches one by one."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[RawBatch] = asyncio.Queue(maxsize=1)

    async def put(self, batch: RawBatch) -> None:
        await self.batches.put(batch)


@contextlib.asynccontextmanager
async def reading(feed_settings: Settings) -> AsyncIterator[tuple[RawFeed, Handoff]]:
    """A feed reading into a handoff for the test's body; stopped afterwards."""
    handoff = Handoff()
    feed = RawFeed(feed_settings, handoff)  # type: ignore[arg-type]
    task = asyncio.create_task(feed.run())
    try:
        yield feed, handoff
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _offsets(feed: RawFeed, handoff: Handoff, count: int) -> list[int]:
    """Offsets of the next batches until `count` records came, all partitions together; then
    each batch is done, in order, as the agent's writes would settle them."""
    seen: list[int] = []
    taken: list[RawBatch] = []
    while len(seen) < count:
        batch = await asyncio.wait_for(handoff.batches.get(), 30)
        if feed.current(batch):
            seen += [record.offset for record in batch.records]
            taken.append(batch)
    for batch in taken:
        await feed.done(batch)
    return seen


def _thirty_raw_events(namespace: Settings) -> tuple[Settings, LagProbe]:
    """30 events in a one-partition chorus.raw, read 10 at a time."""
    feed_settings = dataclasses.replace(namespace, partitions=1, batch_rows=10)
    declare_topics(feed_settings)
    produce(feed_settings, [b'{"n": %d}' % n for n in range(30)])
    return feed_settings, LagProbe(feed_settings, [feed_settings.topic("raw")])


def test_offsets_are_committed_when_done_and_a_failure_reads_them_again(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    feed_settings, probe = _thirty_raw_events(namespace)

    async def scenario() -> tuple[list[int], int, list[int], int]:
        async with reading(feed_settings) as (feed, handoff):
            first = await _offsets(feed, handoff, 10)
            lag_after_first = probe.lag()[feed_settings.topic("raw")]
            await asyncio.wait_for(handoff.batches.get(), 30)  # fetched, then its write fails
            await feed.again()
            again = await _offsets(feed, handoff, 20)
            return first, lag_after_first, again, probe.lag()[feed_settings.topic("raw")]

    try:
        first, lag_after_first, again, lag_at_end = asyncio.run(scenario())
    finally:
        probe.close()
    assert first == list(range(10))
    assert lag_after_first == 20
    assert again[:10] == list(range(10, 20))  # the failed batch comes again, from the commit
    assert sorted(set(again)) == list(range(10, 30))
    assert lag_at_end == 0


def test_a_failed_write_keeps_the_batches_after_it_from_committing(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    """Batches settle in order: the one after a failed write is confirmed but must not commit."""
    feed_settings, probe = _thirty_raw_events(namespace)

    async def scenario() -> tuple[int, list[int]]:
        async with reading(feed_settings) as (feed, handoff):
            first = await asyncio.wait_for(handoff.batches.get(), 30)
            second = await asyncio.wait_for(handoff.batches.get(), 30)
            failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            confirmed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            confirmed.set_result(None)  # the later batch is in Kafka before the earlier one fails
            settling_first = asyncio.ensure_future(feed.settle(first, failed, None))
            settling_second = asyncio.ensure_future(feed.settle(second, confirmed, settling_first))
            failed.set_exception(TimeoutError("broker too slow"))
            await asyncio.gather(settling_first, settling_second)
            lag = probe.lag()[feed_settings.topic("raw")]
            return lag, await _offsets(feed, handoff, 30)

    try:
        lag_after_failure, again = asyncio.run(scenario())
    finally:
        probe.close()
    assert lag_after_failure == 30  # nothing committed
    assert again[:10] == list(range(10))  # read again from the start
    assert sorted(set(again)) == list(range(30))


def test_a_batch_that_vanished_before_the_agent_is_noticed(settings: Settings) -> None:
    """faust clears its channels on a rebalance of its own group: the next batch shows the gap."""
    feed = RawFeed(settings, Handoff())  # type: ignore[arg-type]
    p0, p1 = TopicPartition("raw", 0), TopicPartition("raw", 1)

    def batch(starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> RawBatch:
        return RawBatch([], starts, ends, feed.generation)

    assert feed.follows_on(batch({p0: 0, p1: 7}, {p0: 10, p1: 9}))
    assert feed.follows_on(batch({p1: 9}, {p1: 12}))  # a batch need not hold every partition
    assert feed.follows_on(batch({p0: 10}, {p0: 20}))
    # The batch {p0: 20 -> 30} vanished:
    assert not feed.follows_on(batch({p0: 30, p1: 12}, {p0: 40, p1: 15}))


def test_the_ingest_group_shares_raw_by_weight_and_a_new_weight_rejoins(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    """The worker holding the one-partition topics takes one of four partitions, its peer three."""
    feed_settings = dataclasses.replace(namespace, partitions=4, batch_seconds=0.2)
    declare_topics(feed_settings)
    weights = {"holder": HOLDER_WEIGHT, "peer": PEER_WEIGHT}

    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        feeds = {
            name: RawFeed(feed_settings, Handoff(), partial(weights.__getitem__, name))  # type: ignore[arg-type]
            for name in weights
        }
        reading = {name: asyncio.create_task(feed.run()) for name, feed in feeds.items()}

        async def shares(expected: dict[str, int]) -> dict[str, int]:
            got: dict[str, int] = {}
            for _ in range(300):
                await asyncio.sleep(0.1)
                if all(hasattr(feed, "consumer") for feed in feeds.values()):
                    got = {name: len(feed.consumer.assignment()) for name, feed in feeds.items()}
                    if got == expected:
                        break
            return got

        try:
            first = await shares({"holder": 1, "peer": 3})
            weights["holder"] = PEER_WEIGHT  # faust moved the one-partition topics away
            await asyncio.wait_for(reading["holder"], 30)  # the feed leaves the group...
            reading["holder"] = asyncio.create_task(feeds["holder"].run())  # ...and joins again
            return first, await shares({"holder": 2, "peer": 2})
        finally:
            for task in reading.values():
                task.cancel()
            await asyncio.gather(*reading.values(), return_exceptions=True)

    first, then = asyncio.run(scenario())
    assert first == {"holder": 1, "peer": 3}
    assert then == {"holder": 2, "peer": 2}


def test_a_batch_that_starts_past_the_commit_is_never_committed(
    kafka_bootstrap: str, namespace: Settings
) -> None:
    """A batch lost between feed and agent unseen: the next one must not commit past it."""
    feed_settings, probe = _thirty_raw_events(namespace)

    async def scenario() -> tuple[int, list[int]]:
        async with reading(feed_settings) as (feed, handoff):
            await asyncio.wait_for(handoff.batches.get(), 30)  # 0-9: vanishes
            feed.next_offsets.clear()  # as after a drop: `follows_on` cannot see the gap
            after = await asyncio.wait_for(handoff.batches.get(), 30)  # 10-19
            await feed.done(after)
            return probe.lag()[feed_settings.topic("raw")], await _offsets(feed, handoff, 30)

    try:
        lag, again = asyncio.run(scenario())
    finally:
        probe.close()
    assert lag == 30  # nothing committed past offset 0
    assert again[:10] == list(range(10))  # read again from the commit
