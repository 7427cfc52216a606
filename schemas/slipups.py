"""What the slip-up monitor emits: flags on `chorus.slipups`, incidents on `chorus.alerts`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Severity = Literal["low", "medium", "high", "critical"]


class SlipUp(msgspec.Struct, kw_only=True, frozen=True):
    """One rule that fired on one post. (post_id, rule) is the idempotency key."""

    slipup_id: str  # stable: derived from post_id and rule
    post_id: str
    event_id: str  # of the post
    occurred_at: datetime  # the post's time (event time for the spike windows)
    flagged_at: datetime
    employee_id: str
    department: str  # "" when the roster does not know the employee yet
    region: str
    network: str
    rule: str
    category: str
    severity: Severity
    excerpt: str  # the matched text in context, personal data masked
    hint: str  # coaching hint of the category


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """A state change of a slip-up incident: one `firing`, later one `resolved`.

    An incident groups the scopes that fired for one burst (pipeline/slipups/spikes.py),
    so that a team is told once. `count`, `baseline` and `p_value` are always those of
    the scope that opened it, so the two alerts of an incident compare.
    """

    alert_id: str  # stable: incident_id + status
    incident_id: str  # stable for the whole incident
    status: Literal["firing", "resolved"]
    scope_kind: Literal["company", "department", "network", "category"]  # of the opening scope
    scope: str
    # "kind:value" of every scope in the incident so far, the opening one first; the
    # resolved alert has all of them. Empty in alerts from before incidents grouped scopes.
    scopes: tuple[str, ...] = ()
    window_start: datetime  # the window that opened (or resolved) the incident
    window_end: datetime
    count: int  # slip-ups of the opening scope in that window
    baseline: float  # expected count per window of the opening scope, before the incident
    p_value: float  # tail probability of the count under the baseline
    opened_at: datetime  # event time of the first window of the incident
    summary: str  # one human line, e.g. for chat webhooks


class AlertDelivery(msgspec.Struct, kw_only=True, frozen=True):
    """How the delivery of one alert to one webhook ended: delivered, or failed for good."""

    alert_id: str
    url: str
    ok: bool
    attempts: int  # 0: given up before trying (queue full, shutdown)
    status: int | None  # the last HTTP status, if any answer came
    error: str  # empty when ok
    finished_at: datetime
