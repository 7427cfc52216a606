"""The offset ledger: no skipped offset is processed over, redeliveries are acked once."""

from __future__ import annotations

from agents.kafka.ledger import OffsetLedger, Verdict

P0, P1 = ("raw", 0), ("raw", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_offsets_in_order_are_next_and_done_one_by_one() -> None:
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P0, 5)
    assert [ledger.admit(P0, offset) for offset in (5, 6, 7)] == [Verdict.NEXT] * 3
    assert ledger.expected[P0] == 8
    assert ledger.done(P0, 5) == []
    assert (P0, 5) not in ledger.taken and (P0, 6) in ledger.taken


def test_a_skipped_offset_is_a_gap_until_the_partition_is_read_again() -> None:
    """The chaos-test loss: a partition with no commit delivered from offset 4, not 0."""
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P1, 0)
    assert ledger.admit(P1, 4) is Verdict.GAP
    assert ledger.admit(P1, 5) is Verdict.GAP
    assert ledger.expected[P1] == 0  # nothing past the gap is taken
    assert ledger.taken == {}
    assert [ledger.admit(P1, offset) for offset in range(6)] == [Verdict.NEXT] * 6


def test_a_redelivery_rides_on_the_first_delivery_or_is_done_at_once() -> None:
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P0, 0)
    for offset in (0, 1):
        ledger.admit(P0, offset)
    ledger.done(P0, 0)
    assert ledger.admit(P0, 0) is Verdict.SEEN
    assert not ledger.ride(P0, 0, "second delivery of 0")  # first one done: ack now
    assert ledger.ride(P0, 1, "second delivery of 1")  # first one in flight: ack with it
    assert ledger.done(P0, 1) == ["second delivery of 1"]


def test_a_seek_is_asked_once_per_interval_and_forgotten_once_the_offset_comes() -> None:
    clock = Clock()
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger(reseek_seconds=1.0, clock=clock)
    ledger.start(P0, 0)
    assert ledger.seek_due(P0)
    clock.now = 0.5
    assert not ledger.seek_due(P0)  # messages fetched before the seek still arrive
    clock.now = 1.6
    assert ledger.seek_due(P0)
    ledger.admit(P0, 0)
    clock.now = 1.7
    assert ledger.seek_due(P0)  # a new gap after the partition moved on


def test_a_gap_a_seek_did_not_fill_is_due_again_with_no_message_to_notice_it() -> None:
    """The CI stall: faust dropped the re-read offsets, and the stream had ended."""
    clock = Clock()
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger(reseek_seconds=1.0, clock=clock)
    ledger.start(P0, 10)
    ledger.start(P1, 0)
    assert ledger.admit(P0, 12) is Verdict.GAP and ledger.seek_due(P0)
    clock.now = 0.5
    assert ledger.seeks_due_again() == []
    clock.now = 1.0
    assert ledger.seeks_due_again() == [P0]  # asked again: not due for another second
    assert ledger.seeks_due_again() == []
    assert not ledger.gap_closed(P0, end=80)  # offsets 10-79 are still to come
    clock.now = 2.0
    assert ledger.seeks_due_again() == [P0]
    ledger.admit(P0, 10)
    clock.now = 3.0
    assert ledger.seeks_due_again() == []  # the offset came


def test_a_gap_at_the_end_of_the_log_is_closed() -> None:
    """A seek raised to the group's commit can land on the log's end: nothing is missing."""
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P0, 0)
    assert ledger.admit(P0, 4) is Verdict.GAP and ledger.seek_due(P0)
    ledger.raise_to(P0, 13)
    assert ledger.gap_closed(P0, end=13)
    assert ledger.seeks == {}


def test_retention_past_the_expected_offset_raises_it() -> None:
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P0, 3)
    assert ledger.raise_to(P0, 10) == 10
    assert ledger.raise_to(P0, 7) == 10
    assert ledger.admit(P0, 10) is Verdict.NEXT


def test_forgotten_partitions_are_learnt_again_and_keep_no_riders() -> None:
    ledger: OffsetLedger[tuple[str, int], str] = OffsetLedger()
    ledger.start(P0, 0)
    ledger.start(P1, 0)
    ledger.admit(P0, 0)
    ledger.admit(P1, 0)
    ledger.forget([P0])
    assert P0 not in ledger.expected and P1 in ledger.expected
    assert (P0, 0) not in ledger.taken and (P1, 0) in ledger.taken
    ledger.forget()
    assert ledger.expected == {} and ledger.taken == {}
