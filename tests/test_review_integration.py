"""The review trail through the real broker and server: concurrent reviewers, replays, restarts.

Two reviewers act on the same flag version at once, before any worker runs:
the desk serves them one after the other, the first is applied, the second
refused, and both are in the trail (on Kafka, then in ClickHouse through the
sink of a worker started afterwards). The whole
topic is then sent again (a replay, as after a producer retry or a restore
from backup): ClickHouse still counts each action once, and a desk restored
from the doubled topic holds the same state as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agents.kafka.admin import declare_topics
from agents.kafka.replay import read_whole
from agents.kafka.review import KafkaReviewLog
from pipeline import warehouse
from pipeline.review.desk import Desk
from pipeline.review.lifecycle import Flag
from pipeline.settings import Settings
from schemas.review import ReviewAction
from tests.support import Worker, wait_for
from tests.test_review_lifecycle import two_reviewers_at_once

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

FLAG = Flag("s-flag-1", "flag", "post-1", "emp-1", "profanity_insult/idiot*", "profanity_insult")


async def _two_reviewers_at_once(settings: Settings) -> list[ReviewAction]:
    log = KafkaReviewLog(settings)
    await log.start()
    try:
        first, second = await two_reviewers_at_once(Desk(log.append), FLAG)
        return first + second
    finally:
        await log.stop()


async def _replay_topic(settings: Settings) -> int:
    """Send every message of the trail once more, as they were."""
    topic = settings.topic("review_actions")
    messages = [message async for message in read_whole(settings, topic)]
    log = KafkaReviewLog(settings)
    await log.start()
    try:
        assert log._producer is not None
        for message in messages:
            await (await log._producer.send(topic, message.value, key=message.key, partition=0))
    finally:
        await log.stop()
    return len(messages)


async def _restored(settings: Settings) -> tuple[Flag, int]:
    async def nowhere(actions: list[ReviewAction]) -> None:
        raise AssertionError("a restore writes nothing")

    desk = Desk(nowhere)
    log = KafkaReviewLog(settings)
    read = await log.restore(desk.restore)
    return desk.current(FLAG), read


def test_concurrent_reviewers_and_a_replayed_trail_count_once(
    worker_factory: Callable[..., Worker],
) -> None:
    worker = worker_factory(CHORUS_AGENTS="sink")
    settings = worker.settings
    warehouse.migrator(settings).migrate()
    declare_topics(settings)

    # The workspace acts while no worker runs: the sink must find the actions when it starts.
    done = asyncio.run(_two_reviewers_at_once(settings))
    worker.start()
    applied = [a for a in done if a.outcome == "applied"]
    refused = [a for a in done if a.outcome == "refused"]
    assert len(applied) == 1 and len(refused) == 1
    assert applied[0].version == 1 and "changed this flag first" in refused[0].refused_because
    before, read = asyncio.run(_restored(settings))
    assert read == 2 and before.version == 1 and before.status == applied[0].status

    assert asyncio.run(_replay_topic(settings)) == 2  # the two messages (one action each)
    after, read = asyncio.run(_restored(settings))
    assert read == 4 and after == before

    client = warehouse.client(settings)
    try:

        def rows() -> int:
            return int(client.execute("SELECT count() FROM review_actions")[0][0])

        wait_for(lambda: rows() >= 4, 120, "the trail and its replay in ClickHouse")
        [(distinct, final)] = client.execute(
            "SELECT uniqExact(action_id), (SELECT count() FROM review_actions FINAL) "
            "FROM review_actions"
        )
        assert distinct == final == 2
        [(status, version, reviewer)] = client.execute(
            "SELECT status, version, reviewer FROM review_status WHERE flag_id = 's-flag-1'"
        )
        assert (status, version, reviewer) == (applied[0].status, 1, applied[0].reviewer)
        trail = client.execute(
            "SELECT reviewer, toString(outcome), note FROM review_actions FINAL "
            "WHERE flag_id = 's-flag-1' ORDER BY outcome"
        )
        assert {(r, o) for r, o, _ in trail} == {
            (applied[0].reviewer, "applied"),
            (refused[0].reviewer, "refused"),
        }
        assert {note for *_, note in trail} == {"a quote", "mind the tone"}  # nothing lost
    finally:
        client.disconnect()
    print(
        f"\n[review] applied {applied[0].action} by {applied[0].reviewer}; refused "
        f"{refused[0].action} by {refused[0].reviewer}: {refused[0].refused_because}; "
        f"replayed trail: 4 rows in review_actions, 2 distinct, status {status} v{version}"
    )
