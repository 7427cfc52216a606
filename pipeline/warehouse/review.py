"""What the workspace reads: the queue, a flag and its trail, an employee's history, the policy's figures.

Queries take a `run(sql) -> rows` (client.execute, or chdb in the tests) and
embed their values as literals quoted here, so they run on ClickHouse 18.16
and current ClickHouse alike. Statuses come from `review_status`, which
follows the trail a moment behind; the workspace overlays the exact state it
holds (`pipeline.review.desk`).

Spot checks are the unflagged posts whose id hashes below the share
(`cityHash64(post_id) % 1,000,000 < share × 1,000,000`): a uniform sample that
the same share always draws the same way, so recall is estimated from a fixed,
reproducible set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from pipeline.review.estimates import (
    Estimate,
    Recall,
    post_precision,
    precision_estimates,
    recall,
)
from pipeline.review.lifecycle import Flag
from schemas.review import SPOT_CHECK, ReviewAction, Status

Run = Callable[[str], list[tuple[Any, ...]]]
_SAMPLE_SCALE = 1_000_000


def text(value: str) -> str:
    """`value` as a ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def texts(values: Sequence[str]) -> str:
    return "(" + ", ".join(text(v) for v in values) + ")" if values else "('')"


def spot_sample(share: float) -> str:
    """The SQL condition on `post_id` that draws the spot checks."""
    return f"cityHash64(post_id) % {_SAMPLE_SCALE} < {round(share * _SAMPLE_SCALE)}"


@dataclass(frozen=True)
class QueueItem:
    flag: Flag
    occurred_at: datetime
    department: str
    network: str
    severity: str  # "" for a spot check
    excerpt: str  # the matched text in context; a spot check: the post's start
    hint: str
    text: str  # the whole post


@dataclass(frozen=True)
class Filters:
    kind: str = "flag"  # flag | spot_check
    status: str = ""  # "" any; "open" also counts claimed (what still needs a verdict)
    category: str = ""
    severity: str = ""
    department: str = ""
    network: str = ""
    employee_id: str = ""
    post_id: str = ""


def _item(row: tuple[Any, ...], status: str, version: int) -> QueueItem:
    (flag_id, kind, post_id, employee, rule, category, at, department, network, severity,
     excerpt, hint, post) = row  # fmt: skip
    flag = Flag(
        flag_id, kind, post_id, employee, rule, category, cast(Status, status or "open"), version
    )
    return QueueItem(
        flag, at.replace(tzinfo=UTC), department, network, severity, excerpt, hint, post
    )


def queue(
    run: Run, filters: Filters, share: float, limit: int = 100, flag_id: str = ""
) -> list[QueueItem]:
    """The newest flags (or spot checks) that match, with their last known status."""
    if flag_id.startswith(SPOT_CHECK):
        filters = replace(filters, post_id=flag_id.removeprefix(SPOT_CHECK))
    where = [
        f"{column} = {text(value)}"
        for column, value in (
            ("category", filters.category),
            ("severity", filters.severity),
            ("department", filters.department),
            ("network", filters.network),
            ("employee_id", filters.employee_id),
            ("post_id", filters.post_id),
            ("slipup_id", "" if flag_id.startswith(SPOT_CHECK) else flag_id),
        )
        if value
    ]
    if filters.kind == "spot_check":
        source = _spot_checks(share, where)
    else:
        source = (
            "SELECT slipup_id AS flag_id, 'flag' AS kind, post_id, employee_id, rule, category, "
            "occurred_at, department, network, toString(severity) AS severity, excerpt, hint "
            f"FROM slipups FINAL {'WHERE ' + ' AND '.join(where) if where else ''}"
        )
    status = {
        "": "",
        "open": "WHERE status IN ('', 'open', 'claimed')",
    }.get(filters.status, f"WHERE status = {text(filters.status)}")
    rows = run(
        "SELECT flag_id, kind, post_id, employee_id, rule, category, occurred_at, department, "
        "network, severity, excerpt, hint, status, version "
        f"FROM ({source}) AS f ANY LEFT JOIN (SELECT flag_id, status, version FROM review_status) "
        f"AS r USING flag_id {status} ORDER BY occurred_at DESC, flag_id LIMIT {int(limit)}"
    )
    posts = post_texts(run, [row[2] for row in rows])
    return [_item((*row[:12], posts.get(row[2], "")), row[12], int(row[13])) for row in rows]


def _spot_checks(share: float, where: list[str]) -> str:
    conditions = " AND ".join([spot_sample(share), *where])
    return (
        f"SELECT concat('{SPOT_CHECK}', post_id) AS flag_id, 'spot_check' AS kind, post_id, "
        "employee_id, '' AS rule, '' AS category, occurred_at, department, network, "
        "'' AS severity, substring(text, 1, 160) AS excerpt, '' AS hint FROM ("
        "SELECT post_id, any(employee_id) AS employee_id, min(occurred_at) AS occurred_at, "
        "any(network) AS network, any(text) AS text FROM posts "
        f"WHERE {spot_sample(share)} AND post_id NOT IN (SELECT post_id FROM slipups) "
        "GROUP BY post_id) AS p ANY LEFT JOIN (SELECT employee_id, department "
        f"FROM employees_current) AS e USING employee_id WHERE {conditions}"
    )


def post_texts(run: Run, post_ids: Sequence[str]) -> dict[str, str]:
    if not post_ids:
        return {}
    return dict(
        run(
            f"SELECT post_id, any(text) FROM posts WHERE post_id IN {texts(post_ids)} GROUP BY post_id"
        )
    )


def item(run: Run, flag_id: str, share: float) -> QueueItem | None:
    """One flag or spot check, whatever its status."""
    found = queue(
        run,
        Filters(kind="spot_check" if flag_id.startswith(SPOT_CHECK) else "flag"),
        share,
        1,
        flag_id,
    )
    return found[0] if found else None


_ACTION_COLUMNS = (
    "action_id, flag_id, toString(flag_kind), post_id, employee_id, rule, category, "
    "toString(action), toString(outcome), toString(status), version, reason, note, "
    "refused_because, reviewer, occurred_at"
)


def _actions(rows: list[tuple[Any, ...]]) -> list[ReviewAction]:
    return [
        ReviewAction(
            **dict(zip(ReviewAction.__struct_fields__[:-1], row[:-1], strict=True)),
            occurred_at=row[-1].replace(tzinfo=UTC),
        )
        for row in rows
    ]


def trail(run: Run, flag_id: str) -> list[ReviewAction]:
    """Every action on the flag, refused ones included, in the order they were made."""
    return _actions(
        run(
            f"SELECT {_ACTION_COLUMNS} FROM review_actions FINAL "
            f"WHERE flag_id = {text(flag_id)} ORDER BY occurred_at, version, outcome"
        )
    )


@dataclass(frozen=True)
class EmployeeHistory:
    posts: list[tuple[datetime, str, str, str]]  # (time, post id, network, text), newest first
    flags: list[QueueItem]
    actions: list[ReviewAction]  # every action on their flags, newest first


def employee_history(run: Run, employee_id: str, share: float, limit: int = 200) -> EmployeeHistory:
    posts = [
        (at.replace(tzinfo=UTC), post_id, network, post)
        for post_id, at, network, post in run(
            "SELECT post_id, min(occurred_at) AS at, any(network), any(text) FROM posts "
            f"WHERE employee_id = {text(employee_id)} GROUP BY post_id "
            f"ORDER BY at DESC LIMIT {int(limit)}"
        )
    ]
    flags = queue(run, Filters(employee_id=employee_id), share, limit)
    actions = _actions(
        run(
            f"SELECT {_ACTION_COLUMNS} FROM review_actions FINAL "
            f"WHERE employee_id = {text(employee_id)} ORDER BY occurred_at DESC, version DESC "
            f"LIMIT {int(limit) * 5}"
        )
    )
    return EmployeeHistory(posts, flags, actions)


@dataclass(frozen=True)
class PolicyCounts:
    """What the policy page's estimates are computed from."""

    rules: list[
        tuple[str, str, int, int, int, int]
    ]  # rule, category, flags, reviewed, fp, not_an_issue
    posts: int
    flagged_posts: int
    spot_fine: int
    spot_missed: dict[str, int]  # category -> missed slip-ups found by spot checks
    # (rule, excerpt) of the flags dismissed as false positives
    dismissed_phrases: list[tuple[str, str]]
    flag_verdicts: list[tuple[str, str, str]]  # (post_id, status, reason) of every reviewed flag


def policy_counts(run: Run) -> PolicyCounts:
    rules = [
        (rule, category, int(flags), int(reviewed), int(fp), int(harmless))
        for rule, category, flags, reviewed, fp, harmless in run(
            "SELECT rule, category, flags, reviewed, false_positives, not_an_issue "
            "FROM review_precision ORDER BY rule"
        )
    ]
    [(posts, flagged)] = run(
        "SELECT (SELECT uniqExact(post_id) FROM posts), (SELECT uniqExact(post_id) FROM slipups)"
    )
    fine, missed = 0, {}
    for category, fine_here, missed_here in run(
        "SELECT category, fine, missed FROM review_spot_checks"
    ):
        fine += int(fine_here)
        if missed_here:
            missed[category] = int(missed_here)
    dismissed = [
        (rule, excerpt)
        for rule, excerpt in run(
            "SELECT rule, excerpt FROM slipups FINAL WHERE slipup_id IN (SELECT flag_id "
            "FROM review_status WHERE status = 'dismissed' AND reason = 'false_positive')"
        )
    ]
    verdicts = [
        (post_id, status, reason)
        for post_id, status, reason in run(
            "SELECT post_id, status, reason FROM review_status WHERE flag_kind = 'flag'"
        )
    ]
    return PolicyCounts(rules, int(posts), int(flagged), fine, missed, dismissed, verdicts)


@dataclass(frozen=True)
class PolicyQuality:
    """The two headline figures (`pipeline.review.estimates` on the counts): dashboard, demo, policy page."""

    precision: Estimate | None  # of flags
    recall: Recall | None


def quality(counts: PolicyCounts) -> PolicyQuality:
    return PolicyQuality(
        precision_estimates(counts.rules).overall,
        recall(
            posts=counts.posts,
            flagged_posts=counts.flagged_posts,
            precision=post_precision(counts.flag_verdicts),
            spot_fine=counts.spot_fine,
            spot_missed=counts.spot_missed,
        ),
    )
