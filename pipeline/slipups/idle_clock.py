"""Moves the spike detector's event time on with the wall clock while no slip-up arrives.

Slip-ups are rare: driven only by their event times, the last windows of a
quiet night would stay open and an incident would resolve only with the next
slip-up. Event time goes on from the detector's own watermark by the wall
time elapsed since it last moved, so a fast replay of old data is never
overtaken by the wall clock. Kept apart from `spikes`, which reads no clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pipeline.slipups.spikes import SpikeDetector
from schemas.slipups import Alert


class IdleClock:
    def __init__(
        self, detector: SpikeDetector, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._detector = detector
        self._clock = clock
        self._seen: tuple[datetime, float] | None = None  # (watermark, clock time)

    def observed(self) -> None:
        """Call after the detector saw slip-ups: notes when its watermark last moved."""
        watermark = self._detector.watermark
        if watermark and (self._seen is None or watermark > self._seen[0]):
            self._seen = (watermark, self._clock())

    def tick(self) -> list[Alert]:
        """Advance the detector by the wall time since its watermark last moved."""
        if self._seen is None:
            return []
        watermark, since = self._seen
        return self._detector.advance_to(watermark.timestamp() + self._clock() - since)
