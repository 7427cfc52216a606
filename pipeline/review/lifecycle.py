"""Where a flag may go from where it is, with optimistic versions.

    open ─claim─> claimed ─coach─> coached
      │              ├─dismiss─> dismissed (false_positive | not_an_issue)
      │              └─escalate─> escalated (legal | security)
      └─ coach / dismiss / escalate directly (and bulk) as well
    coached | dismissed | escalated | fine | missed ─reopen─> open

Spot checks (unflagged posts sampled for recall) end "fine" or "missed"
(with the category the policy missed) instead. A reviewer acts on the version
they saw: if the flag has moved on since, the action is refused, and kept in
the trail with why, so two reviewers acting at once lose nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.review import (
    DISMISS_REASONS,
    ESCALATE_TO,
    Action,
    FlagKind,
    ReviewAction,
    Status,
)

FINAL: dict[FlagKind, frozenset[Status]] = {
    "flag": frozenset({"coached", "dismissed", "escalated"}),
    "spot_check": frozenset({"fine", "missed"}),
}
MOVES: dict[FlagKind, dict[Action, Status]] = {
    "flag": {
        "claim": "claimed",
        "coach": "coached",
        "dismiss": "dismissed",
        "escalate": "escalated",
    },
    "spot_check": {"claim": "claimed", "fine": "fine", "missed": "missed"},
}


@dataclass(frozen=True)
class Flag:
    """What an action applies to: the flag and where its trail stands."""

    flag_id: str
    flag_kind: FlagKind
    post_id: str
    employee_id: str
    rule: str
    category: str
    status: Status = "open"
    version: int = 0  # of the last applied action; 0: nobody acted yet
    claimed_by: str = ""
    last_by: str = ""  # who made the current version

    def after(self, action: ReviewAction) -> Flag:
        """The flag once `action` is in its trail (a refused or older one changes nothing)."""
        if action.outcome == "refused" or action.version <= self.version:
            return self
        return replace(
            self,
            status=action.status,
            version=action.version,
            claimed_by=action.reviewer if action.status == "claimed" else "",
            last_by=action.reviewer,
        )


class Refused(Exception):
    """The flag is not where the reviewer thought: refused, and kept in the trail with why."""


class Invalid(ValueError):
    """The request itself is incomplete (a dismissal without a note): told, nothing written."""


def act(
    flag: Flag,
    action: Action,
    *,
    seen_version: int,
    reviewer: str,
    at: datetime,
    reason: str = "",
    note: str = "",
) -> ReviewAction:
    """The action `reviewer` asked for on the version they saw: applied, or refused with why.

    Raises `Invalid` when the request misses what its action needs.
    """
    note = note.strip()
    _validate(flag.flag_kind, action, reason, note)
    try:
        status = _check(flag, action, seen_version, reviewer)
        outcome, why = "applied", ""
    except Refused as exc:
        status, outcome, why = flag.status, "refused", str(exc)
    return ReviewAction(
        action_id=uuid.uuid4().hex,
        flag_id=flag.flag_id,
        flag_kind=flag.flag_kind,
        post_id=flag.post_id,
        employee_id=flag.employee_id,
        rule=flag.rule,
        category=reason if action == "missed" else flag.category,
        action=action,
        outcome=outcome,  # type: ignore[arg-type]  # one of the two literals
        status=status,
        # A refused action keeps the version the reviewer tried to make (within the trail's).
        version=flag.version + 1
        if outcome == "applied"
        else min(max(seen_version, 0), flag.version) + 1,
        reason="" if action == "missed" else reason,
        note=note,
        refused_because=why,
        reviewer=reviewer,
        occurred_at=at,
    )


def _validate(kind: FlagKind, action: Action, reason: str, note: str) -> None:
    if action != "reopen" and action not in MOVES[kind]:
        raise Invalid(f"{action} does not apply to a {kind.replace('_', ' ')}")
    if action == "dismiss" and reason not in DISMISS_REASONS:
        raise Invalid(f"a dismissal needs a reason: {' or '.join(DISMISS_REASONS)}")
    if action == "dismiss" and not note:
        raise Invalid("a dismissal needs a note")
    if action == "coach" and not note:
        raise Invalid("coaching needs a note to the employee")
    if action == "escalate" and reason not in ESCALATE_TO:
        raise Invalid(f"escalate to {' or '.join(ESCALATE_TO)}")
    if action == "missed" and not reason:
        raise Invalid("say which category the policy missed")


def _check(flag: Flag, action: Action, seen_version: int, reviewer: str) -> Status:
    if seen_version != flag.version:
        raise Refused(
            f"{flag.last_by or 'someone'} changed this flag first "
            f"(now {flag.status}, version {flag.version}; you saw version {seen_version})"
        )
    if action == "reopen":
        if flag.status not in FINAL[flag.flag_kind]:
            raise Refused(f"only a closed flag can be reopened (it is {flag.status})")
        return "open"
    if flag.status in FINAL[flag.flag_kind]:
        raise Refused(f"the flag is {flag.status}; reopen it first")
    if flag.status == "claimed" and flag.claimed_by != reviewer:
        raise Refused(f"{flag.claimed_by} has claimed this flag")
    if action == "claim" and flag.status == "claimed":
        raise Refused("you have claimed it already")
    return MOVES[flag.flag_kind][action]
