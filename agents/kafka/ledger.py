"""Every offset of a partition reaches an agent, in order, or the partition is read again.

faust commits a partition up to the first run of acknowledged offsets, and it
checks that the run starts where the group's committed offset is only when
there is a committed offset above zero. A message that never reaches the agent
(faust drops messages of an earlier consumer generation or below a stale read
position without acknowledging them, and a fetch position can run ahead) is
then committed over: most often the first messages of a partition that has no
committed offset yet, when a restarted worker takes it over.

`OffsetLedger` holds, per partition, the offset an agent must see next, from
the group's resume offset (its committed offset, or the log start). Each
delivered message is NEXT (process it), SEEN (delivered again after a seek:
process nothing; acknowledge it once the first delivery is acknowledged, since
other agents of the topic may need it), or a GAP (offsets were skipped: drop
it, unacknowledged, and read the partition again from the expected offset). It
knows nothing of Kafka or faust (`tests/test_offsets.py` tests it by value):
`agents.kafka.batches` wires it to the agents' streams.

A seek can fail to bring the expected offset (faust delivers what it fetched
before the seek, then drops the re-read offsets below it), so it is asked
again every second until the offset comes, even when no later message
arrives to hit the gap: under load that can take several seconds. Gaps come
after rebalances, mostly on partitions committed at 0 or not at all, which
aiokafka's `seek_to_committed` (used by faust on a rebalance) leaves where
they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from enum import Enum
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # a partition
R = TypeVar("R")  # what rides on a first delivery: a later delivery of the same offset


class Verdict(Enum):
    NEXT = "next"
    SEEN = "seen"
    GAP = "gap"


class OffsetLedger(Generic[P, R]):
    """The next offset of each partition, the offsets taken and not yet done, and seeks asked."""

    def __init__(
        self, reseek_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # A seek is not asked again sooner: messages fetched before it still arrive meanwhile.
        self.reseek_seconds = reseek_seconds
        self.clock = clock
        self.expected: dict[P, int] = {}
        self.taken: dict[tuple[P, int], list[R]] = {}  # offset admitted, not done -> riders
        self.seeks: dict[P, float] = {}  # partition -> when a seek was last asked

    def start(self, partition: P, offset: int) -> None:
        """The partition resumes at `offset` (the group's committed offset or the log start)."""
        self.expected[partition] = offset

    def admit(self, partition: P, offset: int) -> Verdict:
        expected = self.expected[partition]
        if offset == expected:
            self.expected[partition] = offset + 1
            self.taken[partition, offset] = []
            self.seeks.pop(partition, None)
            return Verdict.NEXT
        return Verdict.SEEN if offset < expected else Verdict.GAP

    def ride(self, partition: P, offset: int, rider: R) -> bool:
        """File a SEEN delivery to be done with the first one; False if that one is done already."""
        riders = self.taken.get((partition, offset))
        if riders is None:
            return False
        riders.append(rider)
        return True

    def done(self, partition: P, offset: int) -> list[R]:
        """An admitted offset is done; returns the later deliveries that rode on it."""
        return self.taken.pop((partition, offset), [])

    def seek_due(self, partition: P) -> bool:
        """After a GAP: whether to ask for a seek now (and note that it was asked)."""
        now = self.clock()
        asked = self.seeks.get(partition)
        if asked is not None and now - asked < self.reseek_seconds:
            return False
        self.seeks[partition] = now
        return True

    def seeks_due_again(self) -> list[P]:
        """Partitions whose gap is still open a seek interval after the last seek (noted as asked)."""
        now = self.clock()
        due = [p for p, asked in self.seeks.items() if now - asked >= self.reseek_seconds]
        self.seeks.update(dict.fromkeys(due, now))
        return due

    def gap_closed(self, partition: P, end: int) -> bool:
        """Whether the log ends (`end`) where the partition is expected to go on: nothing missing."""
        if end > self.expected[partition]:
            return False
        self.seeks.pop(partition, None)
        return True

    def raise_to(self, partition: P, offset: int) -> int:
        """Records below `offset` are gone (retention): expect no earlier one. Returns the next."""
        self.expected[partition] = max(self.expected[partition], offset)
        return self.expected[partition]

    def forget(self, partitions: Iterable[P] | None = None) -> None:
        """Partitions that left (a rebalance): their offsets are learnt again when they come back."""
        for partition in list(self.expected) if partitions is None else partitions:
            self.expected.pop(partition, None)
            self.seeks.pop(partition, None)
        kept = set(self.expected)
        self.taken = {key: riders for key, riders in self.taken.items() if key[0] in kept}
