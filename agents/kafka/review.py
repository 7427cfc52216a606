"""The workspace's side of chorus.review_actions: the trail read back at start, each action appended.

An action is acknowledged to the reviewer only once the broker has it (acks=all,
idempotent producer): what the workspace says was done is in the trail.
"""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from agents.kafka.producer import open_producer
from agents.kafka.replay import replay
from pipeline.settings import Settings
from pipeline.topology import BY_NAME
from schemas import columnar
from schemas.review import ReviewAction


class KafkaReviewLog:
    """Appends review actions to their topic; `restore` reads back all that came before."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic("review_actions")
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = open_producer(self.settings, linger_ms=0)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def restore(self, apply: Callable[[list[ReviewAction]], object]) -> int:
        """Feed `apply` every action of the trail, oldest first; how many there were."""
        return await replay(self.settings, self.topic, BY_NAME["review_actions"].decoder, apply)

    async def append(self, actions: list[ReviewAction]) -> None:
        """Once this returns, the broker has every action, in order, in one message."""
        assert self._producer is not None, "start() first"
        key = actions[0].flag_id.encode() if len({a.flag_id for a in actions}) == 1 else None
        delivery = await self._producer.send(
            self.topic, columnar.encode(actions), key=key, partition=0
        )
        await delivery
