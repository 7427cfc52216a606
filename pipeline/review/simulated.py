"""Simulated reviewers: the actions a communications team would take on the simulator's flags.

They know the simulator's truth (`truth["review"]`), as a careful team would
after reading each post: a false alarm is dismissed as a false positive, a
slip-up is coached (a few dismissed as "not an issue", which counts as the
rule right, and a few escalated), and a spot-checked post is fine unless it
is a slip-up the policy missed. They get to `share` of the flags and to every
spot check. The demo and the integration tests send the actions to
`chorus.review_actions`; the estimates computed from them can then be checked
against the truth.

Each flag's choices come from a generator seeded with the seed and the flag's
id, so the same flags give the same actions in any order, and action ids are
derived the same way, so sending them twice changes nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from hashlib import blake2b
from typing import Any, NamedTuple

import msgspec

from pipeline.review.lifecycle import Flag, act
from schemas.events import Post
from schemas.review import Action, ReviewAction, spot_check_id
from schemas.slipups import SlipUp

REVIEWERS = ("amelie", "jonas", "priya", "sam")
CLAIM_FIRST = 0.8  # the others act straight from the queue
NOT_AN_ISSUE = 0.05  # of the slip-ups: the words are there, but harmless in context
ESCALATED = 0.03  # of the slip-ups
MEDIAN_DELAY = timedelta(hours=2)  # from the post to a reviewer opening its flag
ESCALATE_TO = {"personal_data": "security", "confidential_leak": "security"}  # others: legal

COACHING = {
    "confidential_leak": "This looks like internal information: please take the post down "
    "and check with your manager before sharing anything like it.",
    "financial_disclosure": "Figures and deals stay with Investor Relations until they are "
    "published: please delete the post.",
    "profanity_insult": "Please keep it courteous, even on a bad day: could you rephrase or "
    "remove the post?",
    "competitor_attack": "Let's talk about our strengths rather than a competitor's "
    "weaknesses: please remove the post.",
    "personal_data": "The post shows someone's contact or payment details: please remove it "
    "now and share them privately.",
    "legal_risk": "Promises of returns and legal threats are for the legal team: please "
    "delete the post.",
}
FALSE_POSITIVE_NOTES = {
    "competitor_attack": "Quotes a competitor's own ad or event: no attack.",
    "confidential_leak": "Public security advice or a public topic: nothing internal.",
    "financial_disclosure": "Figures already published, or not company results at all.",
}
FALSE_POSITIVE_NOTE = "Harmless in context: the rule's words mean something else here."
NOT_AN_ISSUE_NOTE = "The rule read it right, but in this context it does no harm."


class FlagRow(NamedTuple):
    """A flag as the workspace lists it, with its post's time."""

    flag_id: str
    post_id: str
    employee_id: str
    rule: str
    category: str
    occurred_at: datetime


class SpotCheck(NamedTuple):
    """An unflagged post sampled for review (`pipeline.warehouse.review.spot_sample`)."""

    post_id: str
    employee_id: str
    occurred_at: datetime


def simulated_reviews(
    flags: Iterable[SlipUp | FlagRow],
    spot_checks: Iterable[SpotCheck | Post],
    truth: Mapping[str, Any],
    *,
    seed: int,
    share: float = 0.7,
) -> list[ReviewAction]:
    """Every action of the team on `share` of `flags` and on all `spot_checks`, in time order."""
    false_alarms: Mapping[str, str] = truth["review"]["false_alarms"]
    missed: Mapping[str, str] = truth["review"]["missed"]
    actions: list[ReviewAction] = []
    for row in flags:
        flag_id = row.slipup_id if isinstance(row, SlipUp) else row.flag_id
        flag = Flag(flag_id, "flag", row.post_id, row.employee_id, row.rule, row.category)
        rng = random.Random(f"{seed}:{flag_id}")
        if rng.random() < share:
            actions += _review_flag(flag, row.occurred_at, row.post_id in false_alarms, rng, seed)
    for post in spot_checks:
        flag_id = spot_check_id(post.post_id)
        flag = Flag(flag_id, "spot_check", post.post_id, post.employee_id, "", "")
        rng = random.Random(f"{seed}:{flag_id}")
        actions += _spot_check(flag, post.occurred_at, missed.get(post.post_id), rng, seed)
    return sorted(actions, key=lambda a: (a.occurred_at, a.flag_id, a.version))


def _review_flag(
    flag: Flag, posted: datetime, false_alarm: bool, rng: random.Random, seed: int
) -> list[ReviewAction]:
    """Claim (mostly), then dismiss a false alarm, or coach, dismiss or escalate a slip-up."""
    draw = rng.random()
    if false_alarm:
        verdict: tuple[Action, str, str] = (
            "dismiss",
            "false_positive",
            FALSE_POSITIVE_NOTES.get(flag.category, FALSE_POSITIVE_NOTE),
        )
    elif draw < NOT_AN_ISSUE:
        verdict = ("dismiss", "not_an_issue", NOT_AN_ISSUE_NOTE)
    elif draw < NOT_AN_ISSUE + ESCALATED:
        to = ESCALATE_TO.get(flag.category, "legal")
        verdict = ("escalate", to, f"Possible {flag.category.replace('_', ' ')}: for {to}.")
    else:
        verdict = ("coach", "", COACHING.get(flag.category, "Please review the policy."))
    return _steps(flag, posted, verdict, rng, seed)


def _spot_check(
    flag: Flag, posted: datetime, missed: str | None, rng: random.Random, seed: int
) -> list[ReviewAction]:
    """Fine, or missed with the category the policy missed (claimed first, mostly)."""
    if missed is None:
        return _steps(flag, posted, ("fine", "", ""), rng, seed)
    note = f"A {missed.replace('_', ' ')} slip-up the policy did not flag."
    return _steps(flag, posted, ("missed", missed, note), rng, seed)


def _steps(
    flag: Flag,
    posted: datetime,
    verdict: tuple[Action, str, str],
    rng: random.Random,
    seed: int,
) -> list[ReviewAction]:
    """One reviewer opens the flag some time after the post, claims it (mostly), and decides."""
    reviewer = rng.choice(REVIEWERS)
    at = posted + MEDIAN_DELAY * math.exp(rng.gauss(0, 1))
    steps: list[ReviewAction] = []
    if rng.random() < CLAIM_FIRST:
        steps.append(_act(flag, "claim", reviewer, at, "", "", seed))
        flag = flag.after(steps[-1])
        at += timedelta(seconds=rng.uniform(60, 1800))
    action, reason, note = verdict
    steps.append(_act(flag, action, reviewer, at, reason, note, seed))
    return steps


def _act(
    flag: Flag, action: Action, reviewer: str, at: datetime, reason: str, note: str, seed: int
) -> ReviewAction:
    """`lifecycle.act`, with an action id derived from the seed, flag and version (replayable)."""
    done = act(
        flag, action, seen_version=flag.version, reviewer=reviewer, at=at, reason=reason, note=note
    )
    key = f"{seed}:{done.flag_id}:{done.version}:{action}".encode()
    return msgspec.structs.replace(done, action_id=blake2b(key, digest_size=16).hexdigest())
