"""What the coaching digests of one ISO week read (pipeline/review/digest.py builds them).

Three reads, for the week and the `HISTORY_WEEKS` before it: every slip-up flag
with where its review stands now, each employee's posts per week, and the
roster's departments. Written for ClickHouse 18.16 and current ClickHouse
alike (sql/0009: one JOIN per SELECT, aliased subqueries, USING, ANY LEFT
JOIN); queries take a `run(sql) -> rows` so that the tests run them on both
engines. The only values they embed are Unix times computed here. Times come
back as Unix seconds (`toUInt32`), which both engines return as the same number.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.review.digest import (
    HISTORY_WEEKS,
    CoachingWeek,
    IsoWeek,
    PostCount,
    ReviewedFlag,
)
from pipeline.warehouse.conversation import Run

WEEK_SECONDS = 7 * 24 * 3600


def coaching_week(run: Run, week: IsoWeek) -> CoachingWeek:
    """The flags, posts and departments behind the digests of `week`."""
    start = int(week.before(HISTORY_WEEKS).start.timestamp())
    end = int(week.end.timestamp())
    return CoachingWeek(
        week=week,
        flags=reviewed_flags(run, start, end),
        posts=post_counts(run, start, end),
        departments={
            employee: department
            for employee, department in run("SELECT employee_id, department FROM employees_current")
        },
    )


def reviewed_flags(run: Run, start: int, end: int) -> tuple[ReviewedFlag, ...]:
    """Every flag on a post from `start` to `end` (Unix seconds), with its review status now.

    The note is the one of the action that set the current status (its
    version): a coaching note, or why it was dismissed or escalated. A flag
    nobody acted on has no review row: its status reads "".
    """
    rows = run(
        "SELECT flag_id, post_id, toUInt32(occurred_at), employee_id, department, network, "
        "rule, category, toString(severity), excerpt, hint, status, reason, note "
        "FROM ("
        "  SELECT slipup_id AS flag_id, post_id, occurred_at, employee_id, department, network,"
        "    rule, category, severity, excerpt, hint"
        "  FROM slipups FINAL"
        f"  WHERE occurred_at >= toDateTime({start}) AND occurred_at < toDateTime({end})"
        ") AS flagged "
        "ANY LEFT JOIN ("
        "  SELECT flag_id, status, reason, note FROM ("
        "    SELECT flag_id, version, status, reason FROM review_status"
        "  ) AS latest"
        "  ANY LEFT JOIN ("
        "    SELECT flag_id, version, note FROM review_actions FINAL WHERE outcome = 'applied'"
        "  ) AS acted USING (flag_id, version)"
        ") AS reviewed USING flag_id "
        "ORDER BY occurred_at, flag_id"
    )
    return tuple(
        ReviewedFlag(
            slipup_id=flag_id,
            post_id=post_id,
            occurred_at=datetime.fromtimestamp(int(occurred_at), UTC),
            employee_id=employee_id,
            department=department,
            network=network,
            rule=rule,
            category=category,
            severity=severity,
            excerpt=excerpt,
            hint=hint,
            status=status,
            reason=reason,
            note=note,
        )
        for (
            flag_id,
            post_id,
            occurred_at,
            employee_id,
            department,
            network,
            rule,
            category,
            severity,
            excerpt,
            hint,
            status,
            reason,
            note,
        ) in rows
    )


def post_counts(run: Run, start: int, end: int) -> tuple[PostCount, ...]:
    """Each employee's posts per week from `start` (a Monday) to `end`, each post once.

    A post counts in the week it was first seen (several rows may hold one
    post: replays, later versions), by its author in its latest version.
    """
    rows = run(
        f"SELECT author, intDiv(toUInt32(posted_at) - {start}, {WEEK_SECONDS}) AS weeks_in, "
        "count() FROM ("
        "  SELECT post_id, argMax(employee_id, (occurred_at, event_id)) AS author,"
        "    min(occurred_at) AS posted_at"
        "  FROM posts"
        f"  WHERE occurred_at >= toDateTime({start}) AND occurred_at < toDateTime({end})"
        "  GROUP BY post_id"
        ") AS each_post GROUP BY author, weeks_in"
    )
    return tuple(
        PostCount(author, _week_of(start + int(weeks_in) * WEEK_SECONDS), int(posts))
        for author, weeks_in, posts in rows
    )


def _week_of(unix_seconds: int) -> IsoWeek:
    return IsoWeek.of(datetime.fromtimestamp(unix_seconds, UTC).date())
