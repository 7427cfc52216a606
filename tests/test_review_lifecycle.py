"""The flag lifecycle and the desk, without Kafka: every move, refusals, the lock, restores.

`lifecycle.act` decides one action on one flag: applied (the next version),
refused (kept, with why, at the version the reviewer tried to make), or
`Invalid` (the request lacks what its action needs: nothing is written). The
desk decides under one lock and folds an action in only once its `append`
returned, so the second of two reviewers acting on one version is refused,
and a desk restored from the trail it wrote holds the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.review.desk import Desk, Request
from pipeline.review.lifecycle import FINAL, MOVES, Flag, Invalid, act
from schemas.review import Action, FlagKind, ReviewAction, Status

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
FLAG = Flag("s-1", "flag", "post-1", "emp-1", "profanity_insult/idiot*", "profanity_insult")
SPOT = Flag("spot:post-9", "spot_check", "post-9", "emp-2", "", "")
# What each action needs to be valid, by kind.
NEEDS: dict[tuple[FlagKind, Action], dict[str, str]] = {
    ("flag", "claim"): {},
    ("flag", "coach"): {"note": "Keep the tone civil."},
    ("flag", "dismiss"): {"reason": "false_positive", "note": "A quote."},
    ("flag", "escalate"): {"reason": "legal", "note": "Names a customer."},
    ("flag", "reopen"): {"note": "Look again."},
    ("spot_check", "claim"): {},
    ("spot_check", "fine"): {},
    ("spot_check", "missed"): {"reason": "confidential_leak", "note": "A leak."},
    ("spot_check", "reopen"): {},
}


def decide(
    flag: Flag, action: Action, reviewer: str = "ana", seen: int | None = None
) -> ReviewAction:
    return act(
        flag,
        action,
        seen_version=flag.version if seen is None else seen,
        reviewer=reviewer,
        at=AT,
        **NEEDS[(flag.flag_kind, action)],
    )


def at_status(flag: Flag, status: Status, by: str = "ana") -> Flag:
    """`flag` as the trail would leave it in `status` (version 1)."""
    return replace(
        flag, status=status, version=1, claimed_by=by if status == "claimed" else "", last_by=by
    )


# Every transition -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "action"),
    [(kind, action) for kind, moves in MOVES.items() for action in moves],
)
def test_an_open_flag_takes_every_move_of_its_kind(kind: FlagKind, action: Action) -> None:
    flag = FLAG if kind == "flag" else SPOT
    done = decide(flag, action)
    assert (done.outcome, done.status, done.version) == ("applied", MOVES[kind][action], 1)
    assert done.refused_because == "" and done.flag_id == flag.flag_id
    after = flag.after(done)
    assert (after.status, after.version, after.last_by) == (MOVES[kind][action], 1, "ana")
    assert after.claimed_by == ("ana" if action == "claim" else "")


@pytest.mark.parametrize("action", ["coach", "dismiss", "escalate"])
def test_the_claimant_closes_a_claimed_flag(action: Action) -> None:
    claimed = at_status(FLAG, "claimed", by="ana")
    done = decide(claimed, action, reviewer="ana")
    assert (done.outcome, done.status, done.version) == ("applied", MOVES["flag"][action], 2)
    assert claimed.after(done).claimed_by == ""


@pytest.mark.parametrize("action", ["fine", "missed"])
def test_the_claimant_closes_a_claimed_spot_check(action: Action) -> None:
    done = decide(at_status(SPOT, "claimed"), action)
    assert (done.outcome, done.status, done.version) == ("applied", action, 2)


def test_a_spot_check_marked_missed_carries_the_missed_category() -> None:
    done = decide(SPOT, "missed")
    assert (done.category, done.reason) == ("confidential_leak", "")


@pytest.mark.parametrize(
    ("kind", "status"), [(kind, status) for kind, final in FINAL.items() for status in final]
)
def test_every_closed_flag_reopens(kind: FlagKind, status: Status) -> None:
    closed = at_status(FLAG if kind == "flag" else SPOT, status)
    done = decide(closed, "reopen", reviewer="ben")
    assert (done.outcome, done.status, done.version) == ("applied", "open", 2)
    assert closed.after(done).status == "open"


@pytest.mark.parametrize(
    ("kind", "status", "action"),
    [
        (kind, status, action)
        for kind, final in FINAL.items()
        for status in final
        for action in MOVES[kind]
    ],
)
def test_a_closed_flag_refuses_every_move_but_reopen(
    kind: FlagKind, status: Status, action: Action
) -> None:
    closed = at_status(FLAG if kind == "flag" else SPOT, status)
    done = decide(closed, action)
    assert (done.outcome, done.status, done.version) == ("refused", status, 2)
    assert "reopen it first" in done.refused_because
    assert closed.after(done) == closed  # a refusal changes nothing


@pytest.mark.parametrize("status", ["open", "claimed"])
def test_only_a_closed_flag_reopens(status: Status) -> None:
    flag = FLAG if status == "open" else at_status(FLAG, "claimed")
    done = decide(flag, "reopen")
    assert done.outcome == "refused" and "only a closed flag" in done.refused_because


@pytest.mark.parametrize("action", ["claim", "coach", "dismiss", "escalate"])
def test_a_flag_claimed_by_someone_else_is_theirs(action: Action) -> None:
    done = decide(at_status(FLAG, "claimed", by="ana"), action, reviewer="ben")
    assert done.outcome == "refused" and done.refused_because == "ana has claimed this flag"


def test_claiming_twice_is_refused() -> None:
    done = decide(at_status(FLAG, "claimed", by="ana"), "claim", reviewer="ana")
    assert done.outcome == "refused" and "already" in done.refused_because


def test_an_action_on_a_version_that_moved_on_is_refused_and_keeps_its_note() -> None:
    coached = at_status(FLAG, "coached", by="ana")
    done = act(
        coached,
        "dismiss",
        seen_version=0,
        reviewer="ben",
        at=AT,
        reason="false_positive",
        note="  It quotes a film.  ",
    )
    assert (done.outcome, done.status, done.version) == ("refused", "coached", 1)
    assert done.refused_because == (
        "ana changed this flag first (now coached, version 1; you saw version 0)"
    )
    assert (done.note, done.reason, done.reviewer) == ("It quotes a film.", "false_positive", "ben")


# Invalid requests: told, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("flag", "action", "reason", "note", "why"),
    [
        (FLAG, "dismiss", "", "A quote.", "a dismissal needs a reason"),
        (FLAG, "dismiss", "boring", "A quote.", "a dismissal needs a reason"),
        (FLAG, "dismiss", "false_positive", "   ", "a dismissal needs a note"),
        (FLAG, "coach", "", "", "coaching needs a note"),
        (FLAG, "escalate", "hr", "", "escalate to legal or security"),
        (FLAG, "fine", "", "", "fine does not apply to a flag"),
        (FLAG, "missed", "x", "", "missed does not apply to a flag"),
        (SPOT, "coach", "", "Note.", "coach does not apply to a spot check"),
        (SPOT, "missed", "", "", "say which category"),
        (FLAG, "delete", "", "", "delete does not apply"),
    ],
)
def test_an_incomplete_request_is_invalid(
    flag: Flag, action: str, reason: str, note: str, why: str
) -> None:
    with pytest.raises(Invalid, match=why):
        act(
            flag,
            action,  # type: ignore[arg-type]  # the form's text, as the workspace passes it
            seen_version=0,
            reviewer="ana",
            at=AT,
            reason=reason,
            note=note,
        )


def test_an_invalid_request_is_invalid_even_on_a_stale_version() -> None:
    """Invalid is decided first: a reviewer fixes their form before learning of the race."""
    with pytest.raises(Invalid):
        act(at_status(FLAG, "coached"), "coach", seen_version=0, reviewer="ben", at=AT, note="")


# Folding a trail ------------------------------------------------------------------


def test_an_older_or_refused_action_does_not_move_a_flag() -> None:
    claim = decide(FLAG, "claim")
    claimed = FLAG.after(claim)
    assert claimed.after(claim) == claimed  # the same action again (a replay)
    refused = decide(claimed, "claim", reviewer="ben")
    assert claimed.after(refused) == claimed


# The desk -------------------------------------------------------------------------


class Trail:
    """An in-memory chorus.review_actions; `delay` lets other tasks run during a write."""

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[list[ReviewAction]] = []
        self.delay = delay
        self.fail = False

    async def append(self, actions: list[ReviewAction]) -> None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("the broker is away")
        self.messages.append(actions)

    @property
    def actions(self) -> list[ReviewAction]:
        return [action for message in self.messages for action in message]


async def two_reviewers_at_once(
    desk: Desk, flag: Flag = FLAG
) -> tuple[list[ReviewAction], list[ReviewAction]]:
    """Ana dismisses and Ben coaches `flag`, both on version 0, at the same time."""
    first, second = await asyncio.gather(
        desk.act(
            [Request(flag, 0)],
            "dismiss",
            reviewer="ana",
            at=AT,
            reason="false_positive",
            note="a quote",
        ),
        desk.act([Request(flag, 0)], "coach", reviewer="ben", at=AT, note="mind the tone"),
    )
    return first, second


def test_two_reviewers_on_one_version_at_once_the_second_is_refused() -> None:
    trail = Trail(delay=0.01)  # without the lock both would decide on version 0
    desk = Desk(trail.append)
    [first], [second] = asyncio.run(two_reviewers_at_once(desk))
    assert (first.outcome, first.version, first.status) == ("applied", 1, "dismissed")
    assert (second.outcome, second.version, second.status) == ("refused", 1, "dismissed")
    assert second.refused_because.startswith("ana changed this flag first")
    assert trail.actions == [first, second]  # both in the trail, in the order decided
    assert desk.current(FLAG).status == "dismissed" and desk.current(FLAG).last_by == "ana"
    assert desk.trail_tail(FLAG.flag_id) == [first, second]


def test_an_invalid_request_writes_nothing() -> None:
    trail = Trail()
    desk = Desk(trail.append)
    with pytest.raises(Invalid):
        asyncio.run(desk.act([Request(FLAG, 0)], "coach", reviewer="ana", at=AT, note=""))
    assert trail.messages == [] and desk.current(FLAG) == FLAG and desk.trail_tail("s-1") == []


def test_an_action_the_trail_did_not_take_is_not_done() -> None:
    trail = Trail()
    trail.fail = True
    desk = Desk(trail.append)
    with pytest.raises(ConnectionError):
        asyncio.run(desk.act([Request(FLAG, 0)], "claim", reviewer="ana", at=AT))
    assert desk.current(FLAG) == FLAG  # the reviewer is not told it is done; nothing moved
    trail.fail = False
    [done] = asyncio.run(desk.act([Request(FLAG, 0)], "claim", reviewer="ana", at=AT))
    assert done.outcome == "applied" and done.version == 1


def test_a_bulk_action_is_one_message_and_refuses_only_the_flags_that_moved() -> None:
    trail = Trail()
    desk = Desk(trail.append)
    flags = [replace(FLAG, flag_id=f"s-{n}", post_id=f"post-{n}") for n in range(3)]
    asyncio.run(desk.act([Request(flags[1], 0)], "claim", reviewer="ben", at=AT))
    done = asyncio.run(
        desk.act(
            [Request(flag, 0) for flag in flags],
            "dismiss",
            reviewer="ana",
            at=AT,
            reason="not_an_issue",
            note="Harmless.",
        )
    )
    assert [a.outcome for a in done] == ["applied", "refused", "applied"]
    assert "changed this flag first" in done[1].refused_because
    assert trail.messages[-1] == done
    assert [desk.current(flag).status for flag in flags] == ["dismissed", "claimed", "dismissed"]


def _session(desk: Desk) -> None:
    """A morning's work on three flags and a spot check, with refusals along the way."""
    spot = SPOT
    other = replace(FLAG, flag_id="s-2", post_id="post-2")

    async def work() -> None:
        await desk.act([Request(FLAG, 0)], "claim", reviewer="ana", at=AT)
        await desk.act([Request(FLAG, 1)], "coach", reviewer="ben", at=AT, note="tone")  # refused
        await desk.act([Request(FLAG, 1)], "coach", reviewer="ana", at=AT, note="tone")
        await desk.act([Request(FLAG, 2)], "reopen", reviewer="ben", at=AT, note="look again")
        await desk.act(
            [Request(FLAG, 3), Request(other, 0)],
            "dismiss",
            reviewer="ben",
            at=AT + timedelta(minutes=1),
            reason="false_positive",
            note="a quote",
        )
        await desk.act([Request(spot, 0)], "missed", reviewer="ana", at=AT, reason="legal_risk")
        await desk.act([Request(spot, 0)], "fine", reviewer="ben", at=AT)  # refused

    asyncio.run(work())


def _restored(actions: Iterable[ReviewAction]) -> Desk:
    async def nowhere(actions: list[ReviewAction]) -> None:
        raise AssertionError("a restore writes nothing")

    desk = Desk(nowhere)
    desk.restore(actions)
    return desk


def test_a_desk_restored_from_its_trail_holds_the_same_state() -> None:
    trail = Trail()
    desk = Desk(trail.append)
    _session(desk)
    assert {flag_id: (f.status, f.version) for flag_id, f in desk.flags.items()} == {
        "s-1": ("dismissed", 4),
        "s-2": ("dismissed", 1),
        "spot:post-9": ("missed", 1),
    }
    assert desk.flags["spot:post-9"].category == "legal_risk"
    assert _restored(trail.actions).flags == desk.flags
    # A replayed trail (a producer retry, a restore from backup) changes nothing.
    assert _restored(trail.actions + trail.actions).flags == desk.flags
    assert list(_restored(trail.actions).recent) == trail.actions


def test_a_restored_desk_refuses_what_the_first_would_have_refused() -> None:
    trail = Trail()
    desk = Desk(trail.append)
    _session(desk)
    restored = _restored(trail.actions)
    restored.append = Trail().append
    [again] = asyncio.run(
        restored.act([Request(FLAG, 3)], "claim", reviewer="ana", at=AT)  # the version before
    )
    assert again.outcome == "refused" and "ben changed this flag first" in again.refused_because


def test_a_flag_nobody_acted_on_is_as_the_warehouse_gave_it() -> None:
    desk = Desk(Trail().append)
    assert desk.current(FLAG) is FLAG and desk.trail_tail(FLAG.flag_id) == []


ANY_TEXT = st.text(max_size=40) | st.sampled_from(["", "claim", "coach", "dismiss", "reopen"])


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["flag", "spot_check"]),
    steps=st.lists(
        st.tuples(
            ANY_TEXT,  # action, as a form sends it: anything
            st.integers(-3, 6),  # the version the page showed
            st.sampled_from(["ana", "ben"]),
            ANY_TEXT | st.sampled_from(["false_positive", "legal", "legal_risk"]),
            ANY_TEXT,  # note
        ),
        max_size=8,
    ),
)
def test_any_sequence_of_requests_is_refused_or_invalid_never_a_broken_trail(
    kind: FlagKind, steps: list[tuple[str, int, str, str, str]]
) -> None:
    """Whatever is asked, in any order: an `Invalid` that writes nothing, or a valid trail row."""
    flag = FLAG if kind == "flag" else SPOT
    trail: list[ReviewAction] = []
    for action, seen, reviewer, reason, note in steps:
        try:
            done = act(
                flag,
                action,  # type: ignore[arg-type]  # as a form sends it: anything
                seen_version=seen,
                reviewer=reviewer,
                at=AT,
                reason=reason,
                note=note,
            )
        except Invalid:
            continue
        assert done.action in (*MOVES[kind], "reopen") and 1 <= done.version <= flag.version + 1
        if done.outcome == "applied":
            assert done.version == flag.version + 1 and seen == flag.version
        else:
            assert done.status == flag.status and done.refused_because
        trail.append(done)
        flag = flag.after(done)
    restored = FLAG if kind == "flag" else SPOT
    for done in trail:
        restored = restored.after(done)
    assert restored == flag  # the trail alone gives the state back
