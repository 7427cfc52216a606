"""The conversation metrics, read from the views of sql/0009 for a window and every scope.

Each view holds one row per fact (a post, an engagement with its person, a
comment and whether it was answered); a window is a WHERE on the fact's time,
and every scope comes from one pass: each row is counted under its company,
department, region, network and employee (`arrayJoin` of the scope names),
so one query per view serves them all, on ClickHouse 18.16 and current
ClickHouse alike. Queries take a `run(sql) -> rows` so that the tests run them
on both engines; the values they embed are times and integers formatted here.
Definitions: docs/analysts.md, "Conversation".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.conversation import RESPONSE_BUCKETS, Conversation

Run = Callable[[str], list[tuple[Any, ...]]]


_SCOPES = (
    "['company', concat('department:', department), concat('region:', region), "
    "concat('network:', network), concat('employee:', employee_id)]"
)


def _at(moment: datetime) -> str:
    return f"toDateTime('{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}', 'UTC')"


def _window(column: str, end: datetime, days: int) -> str:
    return f"{column} >= {_at(end - timedelta(days=days))} AND {column} < {_at(end)}"


def data_end(run: Run) -> datetime | None:
    """Just after the latest post or engagement: where "the last N days" end for this data."""
    [(posts, engagements)] = run(
        "SELECT (SELECT toUInt32(max(occurred_at)) FROM posts), "
        "(SELECT toUInt32(max(occurred_at)) FROM engagements)"
    )
    latest = max(int(posts), int(engagements))
    return datetime.fromtimestamp(latest + 1, UTC) if latest else None


def conversation(run: Run, end: datetime, days: int) -> dict[str, Conversation]:
    """Every scope's conversation over [end - days, end)."""
    scopes: dict[str, Conversation] = {}

    def at(scope: str) -> Conversation:
        if scope not in scopes:
            scopes[scope] = Conversation(scope)
        return scopes[scope]

    for scope, posts, outside in run(
        f"SELECT scope, count(), countIf(reply_outside) FROM (SELECT arrayJoin({_SCOPES}) "
        f"AS scope, reply_outside FROM post_conversation WHERE {_window('occurred_at', end, days)}) "
        "GROUP BY scope"
    ):
        found = at(scope)
        found.posts, found.replies_outside = int(posts), int(outside)

    buckets = ", ".join(
        f"countIf(answered AND response_seconds > {low} AND response_seconds <= {high})"
        for low, high in zip(
            (0, *(b for _, b in RESPONSE_BUCKETS[:-1])),
            (b for _, b in RESPONSE_BUCKETS),
            strict=True,
        )
    )
    for scope, comments, answered, median, *counts in run(
        "SELECT scope, count(), countIf(answered), "
        f"quantileExactIf(0.5)(response_seconds, answered), {buckets} FROM ("
        f"SELECT arrayJoin({_SCOPES}) AS scope, answered, response_seconds FROM comment_responses "
        f"WHERE {_window('commented_at', end, days)}) GROUP BY scope"
    ):
        found = at(scope)
        found.comments, found.answered = int(comments), int(answered)
        found.median_response_seconds = int(float(median)) if int(answered) else 0
        found.response_buckets = tuple(int(count) for count in counts)

    for scope, engagements, persons, likes, shares, clicks in run(
        "SELECT scope, count(), uniqExactIf(person, NOT colleague), countIf(kind = 'like'), "
        "countIf(kind = 'share'), countIf(kind = 'click') FROM ("
        f"SELECT arrayJoin({_SCOPES}) AS scope, person, colleague, kind FROM engagement_persons "
        f"WHERE {_window('occurred_at', end, days)}) GROUP BY scope"
    ):
        found = at(scope)
        found.engagements, found.engaged_persons = int(engagements), int(persons)
        found.likes, found.shares, found.clicks = int(likes), int(shares), int(clicks)

    posted_on: dict[str, set[str]] = {}  # employee -> networks they posted on in the window
    for employee, network in run(
        "SELECT DISTINCT employee_id, network FROM post_conversation "
        f"WHERE {_window('occurred_at', end, days)}"
    ):
        posted_on.setdefault(employee, set()).add(network)
    for employee, department, region, networks in _ambassadors(run):
        posted = posted_on.get(employee, set())
        scope_names = ["company", f"department:{department}", f"region:{region}"]
        scope_names += [f"employee:{employee}"]
        for scope, active in [(name, bool(posted)) for name in scope_names] + [
            (f"network:{network}", network in posted) for network in networks
        ]:
            found = at(scope)
            found.ambassadors += 1
            found.active_ambassadors += active
    return scopes


def _ambassadors(run: Run) -> list[tuple[str, str, str, set[str]]]:
    """Active employees with at least one account: id, department, region, networks."""
    return [
        (employee, department, region, set(networks))
        for employee, department, region, networks in run(
            "SELECT employee_id, department, region, account_networks FROM employees_current "
            "WHERE active AND notEmpty(account_networks)"
        )
    ]


def active_ambassadors_by_day(run: Run, end: datetime, days: int) -> list[tuple[date, int, int]]:
    """For each of the last `days` days: (day, employees with a post in the 7 days to it, ambassadors).

    Ambassadors are today's (the current roster's), so the series shows who
    of today's ambassadors was active then.
    """
    ambassadors = {employee for employee, *_ in _ambassadors(run)}
    first = (end - timedelta(days=days + 6)).date()
    posting: dict[date, set[str]] = {}
    for employee, day in run(
        "SELECT DISTINCT employee_id, day FROM post_conversation "
        f"WHERE day >= toDate('{first.isoformat()}') AND {_window('occurred_at', end, days + 7)}"
    ):
        if employee in ambassadors:
            posting.setdefault(_date(day), set()).add(employee)
    series = []
    last = (end - timedelta(seconds=1)).date()
    for offset in range(days - 1, -1, -1):
        day = last - timedelta(days=offset)
        week: Iterable[set[str]] = (posting.get(day - timedelta(days=d), set()) for d in range(7))
        series.append((day, len(set().union(*week)), len(ambassadors)))
    return series


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
