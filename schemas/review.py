"""What the communications team does with a flag: one `ReviewAction` per click, on `chorus.review_actions`.

The trail is append-only: an action never changes an earlier one, it adds the
next version of its flag. A refused action (the flag had moved on, or the move
is not allowed from where it is) is kept too, with `outcome` "refused" and the
reason, so that nobody's note is lost (docs/review.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

FlagKind = Literal["flag", "spot_check"]
Action = Literal["claim", "coach", "dismiss", "escalate", "reopen", "fine", "missed"]
Status = Literal["open", "claimed", "coached", "dismissed", "escalated", "fine", "missed"]
Outcome = Literal["applied", "refused"]
DISMISS_REASONS = ("false_positive", "not_an_issue")
ESCALATE_TO = ("legal", "security")
SPOT_CHECK = "spot:"  # a spot check's flag_id is this and its post's id


def spot_check_id(post_id: str) -> str:
    return SPOT_CHECK + post_id


class ReviewAction(msgspec.Struct, kw_only=True, frozen=True):
    """One reviewer's action on one flag. `action_id` is the idempotency key."""

    action_id: str
    flag_id: str  # the slip-up's slipup_id, or `spot_check_id(post_id)` for a spot check
    flag_kind: FlagKind
    post_id: str
    employee_id: str
    rule: str  # the rule that fired; "" for a spot check
    category: str  # of the rule; for a spot check marked missed, the category missed
    action: Action
    outcome: Outcome
    status: Status  # the flag's status after the action (unchanged when refused)
    version: int  # the flag's version this action made (or tried to make), from 1
    reason: str  # dismiss: false_positive | not_an_issue; escalate: legal | security
    note: str  # to the employee (coach), or why (dismiss, escalate), as the reviewer wrote it
    refused_because: str  # "" when applied
    reviewer: str  # the workspace user who acted
    occurred_at: datetime
