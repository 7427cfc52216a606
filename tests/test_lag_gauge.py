"""The consumer-lag gauge outlives a broker that is restarting."""

from __future__ import annotations

import asyncio

from kafka.errors import CoordinatorLoadInProgressError

from agents.kafka.lag import LagGauge, LagProbe
from pipeline.observability import CONSUMER_LAG


class Probe:
    """Answers like `LagProbe.lag`, or fails once like a restarting broker."""

    def __init__(self, answers: list[dict[str, int] | Exception]) -> None:
        self.answers = answers
        self.closed = False

    def lag(self) -> dict[str, int]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


def test_a_failed_reading_is_skipped_and_the_next_one_opens_a_new_client() -> None:
    broken = Probe([CoordinatorLoadInProgressError("OffsetFetchResponse failed")])
    fresh = Probe([{"t.posts": 7}])
    probes = [broken, fresh]
    gauge = LagGauge(lambda: probes.pop(0))  # type: ignore[arg-type, return-value]
    asyncio.run(gauge.refresh())  # the timer's exception would have crashed the worker
    assert broken.closed
    asyncio.run(gauge.refresh())
    assert CONSUMER_LAG.labels("t.posts")._value.get() == 7
    assert not fresh.closed


def test_a_broker_that_cannot_be_reached_costs_a_reading_only() -> None:
    def unreachable() -> LagProbe:
        raise OSError("connection refused")

    asyncio.run(LagGauge(unreachable).refresh())
