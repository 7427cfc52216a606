"""The weekly coaching digests: the builder on hand-made rows (pipeline/review/digest.py), then
the reads of one week (pipeline/warehouse/coaching.py) and `chorus coach digest` on current
ClickHouse (chdb) and on the local 18.16 server alike."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import warehouse
from pipeline.cli.coach import post_each
from pipeline.cli.main import cli
from pipeline.review.digest import (
    CoachingWeek,
    IsoWeek,
    PostCount,
    ReviewedFlag,
    build,
    file_stem,
    render,
    webhook_messages,
    write,
)
from pipeline.slipups.alerts import RetryPolicy
from pipeline.warehouse.coaching import coaching_week
from schemas.events import Employee, EmployeeAccount, Post
from schemas.slipups import SlipUp
from tests.support import WebhookReceiver
from tests.test_warehouse import Engine, ServerEngine, chdb_engine, engine  # noqa: F401 - fixtures

WEEK = IsoWeek(2026, 49)  # Monday 30 Nov to Sunday 6 Dec 2026
MONDAY = WEEK.start + timedelta(hours=9)
DAY = timedelta(days=1)


def flag(
    number: int,
    employee: str,
    at: datetime = MONDAY,
    *,
    status: str = "",
    reason: str = "",
    note: str = "",
    category: str = "financial_disclosure",
    department: str = "",
) -> ReviewedFlag:
    return ReviewedFlag(
        slipup_id=f"s{number}",
        post_id=f"p{number}",
        occurred_at=at,
        employee_id=employee,
        department=department,
        network="mastodon",
        rule="revenue_figures",
        category=category,
        severity="high",
        excerpt=f"our Q3 revenue is up 12 % <b>{number}</b>",
        hint="Never post figures before the official announcement.",
        status=status,
        reason=reason,
        note=note,
    )


def week_of(
    *flags: ReviewedFlag, posts: dict[tuple[str, IsoWeek], int], roster: dict[str, str]
) -> CoachingWeek:
    return CoachingWeek(
        week=WEEK,
        flags=flags,
        posts=tuple(PostCount(e, week, n) for (e, week), n in posts.items()),
        departments=roster,
    )


# The builder, on hand-made rows ---------------------------------------------------


def test_a_coached_flag_shows_what_fired_the_hint_and_the_reviewers_note() -> None:
    data = week_of(
        flag(1, "e1", status="coached", note="Please wait for the\nofficial release."),
        posts={("e1", WEEK): 4},
        roster={"e1": "Sales"},
    )
    files = render(build(data))
    markdown, page = files["employees/e1.md"], files["employees/e1.html"]
    for text in (markdown, page):
        assert "2026-W49" in text and "Mon 30 Nov 2026 on mastodon" in text
        assert "Financial disclosure · high" in text and "rule revenue figures" in text
        assert "Never post figures before the official announcement." in text
        assert "worth doing differently next time" in text
        assert "Thank you for speaking up for us online" in text
    assert "You published 4 posts this week" in markdown
    assert "> Please wait for the official release." in markdown
    assert "our Q3 revenue is up 12 % \\<b\\>1\\</b\\>" in markdown  # Markdown escaped
    assert "Please wait for the\nofficial release." in page
    assert "&lt;b&gt;1&lt;/b&gt;" in page and "<b>1</b>" not in page  # autoescaped
    assert "<link" not in page and "<script" not in page and "http" not in page  # self-contained


def test_a_false_alarm_is_said_plainly_with_nothing_to_change() -> None:
    data = week_of(
        flag(1, "e2", status="dismissed", reason="false_positive", note="matched a product name"),
        posts={("e2", WEEK): 1},
        roster={"e2": "Engineering"},
    )
    markdown = render(build(data))["employees/e2.md"]
    assert "a false alarm. Our check got this one wrong: there is nothing to change." in markdown
    assert "Nothing for you to change this week. Thank you for posting" in markdown
    assert "matched a product name" not in markdown  # a dismissal's note is for the team
    assert "Hint:" not in markdown  # no advice on a post that was fine


def test_each_status_is_told_to_the_employee() -> None:
    data = week_of(
        flag(1, "e1", status="escalated", reason="legal", note="possible leak"),
        flag(2, "e1", MONDAY + DAY, status="claimed"),
        flag(3, "e1", MONDAY + 2 * DAY, status="dismissed", reason="not_an_issue", note="fine"),
        posts={("e1", WEEK): 3},
        roster={"e1": "Sales"},
    )
    markdown = render(build(data))["employees/e1.md"]
    escalated, claimed, fine = (markdown.index(f"\\<b\\>{n}") for n in (1, 2, 3))
    assert escalated < claimed < fine  # oldest first
    assert "passed on to the legal team, who will get in touch" in markdown
    assert "Not reviewed yet: the communications team will look at it" in markdown
    assert "fine as posted" in markdown and "possible leak" not in markdown


def test_a_clean_week_gets_a_kind_digest_only_when_asked() -> None:
    data = week_of(
        flag(1, "e1", status="coached", note="n"),
        posts={("e1", WEEK): 1, ("e4", WEEK): 3},
        roster={"e1": "Sales", "e4": "Sales"},
    )
    assert "employees/e4.md" not in render(build(data))
    digests = build(data, clean_weeks=True)
    files = render(digests)
    assert "A clean week: 3 posts. Thank you for sharing" in files["employees/e4.md"]
    assert "[e4](employees/e4.md): 3 posts" in files["index.md"]
    assert [e.employee_id for e in digests.clean] == ["e4"]


def test_a_department_sees_counts_trend_categories_and_who_needs_a_conversation() -> None:
    before = WEEK.before(1)
    data = week_of(
        flag(1, "e1", status="coached", note="private advice for e1"),
        flag(
            2, "e1", MONDAY + DAY, status="escalated", reason="security", category="personal_data"
        ),
        flag(3, "e2", status="coached", note="n"),  # one confirmed flag: no conversation yet
        flag(4, "e2", MONDAY + DAY, status="dismissed", reason="false_positive", note="n"),
        flag(5, "e3", status="escalated", reason="legal"),  # one escalation is enough
        flag(6, "e4", MONDAY + DAY),  # not reviewed yet
        flag(7, "e1", MONDAY - 7 * DAY, status="coached", note="n"),  # the week before
        flag(8, "e5", department="Marketing"),  # moved to Sales since: counts in Sales
        posts={("e1", WEEK): 5, ("e2", WEEK): 5, ("e1", before): 10, ("e4", before): 10},
        roster={"e1": "Sales", "e2": "Sales", "e3": "Sales", "e4": "Sales", "e5": "Sales"},
    )
    [sales] = build(data).departments
    this_week, week_before = sales.weeks[0][1], sales.weeks[1][1]
    assert [week.label for week, _ in sales.weeks] == [
        "2026-W49",
        "2026-W48",
        "2026-W47",
        "2026-W46",
        "2026-W45",
    ]
    assert (this_week.flags, this_week.confirmed, this_week.false_alarms) == (7, 4, 1)
    assert (this_week.not_reviewed, this_week.posts) == (2, 10)
    assert (week_before.flags, week_before.confirmed, week_before.posts) == (1, 1, 20)
    assert sales.trend == "up"  # 4 confirmed in 10 posts, where 1 in 20 gives 0.5
    assert "More slip-ups than usual: 4 confirmed flags for 10 posts" in sales.trend_sentence
    assert [(c.category, c.flags, c.confirmed) for c in sales.categories] == [
        ("financial_disclosure", 6, 3),
        ("personal_data", 1, 1),
    ]
    assert [(c.employee_id, c.confirmed, c.escalated_to) for c in sales.conversations] == [
        ("e1", 2, ("security",)),
        ("e3", 1, ("legal",)),
    ]
    files = render(build(data))
    markdown = files["departments/Sales.md"]
    assert "| Confirmed (coached or escalated) | 4 | 1 | 0 | 0 | 0 |" in markdown
    assert (
        "- e1: 2 confirmed flags (financial disclosure, personal data); escalated to security"
        in markdown
    )
    for text in (markdown, files["departments/Sales.html"]):
        assert "our Q3 revenue" not in text and "private advice" not in text  # counts only


def test_an_employee_the_roster_does_not_know_counts_in_the_department_of_their_flag() -> None:
    data = week_of(flag(1, "e9", department="Marketing"), posts={("e9", WEEK): 2}, roster={})
    [marketing] = build(data).departments
    assert (marketing.department, marketing.this_week.flags, marketing.this_week.posts) == (
        "Marketing",
        1,
        2,
    )


@pytest.mark.parametrize(
    ("confirmed_now", "posts_now", "trend"),
    [(1, 10, "steady"), (0, 10, "down"), (3, 10, "up"), (0, 0, "no_posts")],
)
def test_the_trend_is_per_post_against_the_four_weeks_before(
    confirmed_now: int, posts_now: int, trend: str
) -> None:
    earlier = [
        flag(10 + n, "e1", MONDAY - (7 * (1 + n % 4)) * DAY, status="coached", note="n")
        for n in range(8)
    ]
    now = [flag(n, "e1", status="coached", note="n") for n in range(confirmed_now)]
    posts = {("e1", WEEK.before(n)): 20 for n in range(1, 5)}  # 8 confirmed in 80 posts
    data = week_of(*earlier, *now, posts={**posts, ("e1", WEEK): posts_now}, roster={"e1": "S"})
    [department] = build(data).departments
    assert department.expected_confirmed == pytest.approx(posts_now / 10)
    assert department.trend == trend


def test_file_names_are_safe_and_keep_different_names_apart() -> None:
    assert file_stem("Sales", "x") == "Sales"
    names = {file_stem(name, "no-department") for name in ("R&D", "R/D", "../etc", "", " ")}
    assert len(names) == 5
    assert all(name.replace("-", "").replace("_", "").isalnum() for name in names)
    data = week_of(
        flag(1, "../../e1", status="coached", note="n"),
        posts={},
        roster={"../../e1": "R&D / Paris"},
    )
    paths = " ".join(sorted(render(build(data))))
    assert re.fullmatch(
        r"departments/R-D-Paris-(\w{8})\.html departments/R-D-Paris-\1\.md "
        r"employees/e1-(\w{8})\.html employees/e1-\2\.md index\.html index\.md",
        paths,
    ), paths


def test_an_empty_week_writes_an_index_saying_so(tmp_path: Path) -> None:
    stale = tmp_path / "2026-W49" / "employees" / "e9.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier run")
    assert sorted(write(build(week_of(posts={}, roster={})), tmp_path)) == [
        tmp_path / "2026-W49" / "index.html",
        tmp_path / "2026-W49" / "index.md",
    ]
    directory = tmp_path / "2026-W49"
    assert sorted(p.name for p in directory.rglob("*") if p.is_file()) == ["index.html", "index.md"]
    assert (
        "No posts and no flags in 2026-W49: there is nothing to send"
        in (directory / "index.md").read_text()
    )


def test_a_bad_week_is_a_clear_error() -> None:
    for text in ("2026-49", "W49", "2026-W60", "2025-W53"):
        with pytest.raises(ValueError, match="ISO week"):
            IsoWeek.parse(text)
    assert IsoWeek.parse("2026-W53").label == "2026-W53"
    result = CliRunner().invoke(cli, ["coach", "digest", "--week", "2026-49", "--out", "x"])
    assert result.exit_code == 2
    assert "'2026-49' is not an ISO week: write YYYY-Www, e.g. 2026-W49" in result.output


def test_webhook_messages_carry_counts_and_never_names() -> None:
    data = week_of(
        flag(1, "e1", status="coached", note="n"),
        flag(2, "e1", status="escalated", reason="legal"),
        posts={("e1", WEEK): 2},
        roster={"e1": "Sales <b>"},
    )
    summary, sales = webhook_messages(build(data))
    assert summary["kind"] == "coaching_week" and summary["counts"]["flags"] == 2
    assert sales["department"] == "Sales <b>" and sales["conversations_needed"] == 1
    assert "Sales &lt;b&gt;, 2026-W49: 2 flags (2 confirmed" in sales["text"]  # chat-safe
    assert "e1" not in str(summary) + str(sales)


def test_a_webhook_that_fails_is_named_masked() -> None:
    down = WebhookReceiver()  # never started: the webhook is down
    secret = f"{down.url}/T0KEN-secret"
    [error] = post_each(secret, [{"text": "hello"}], RetryPolicy(max_attempts=1))
    assert error and "T0KEN-secret" not in error


# The reads and the command, on both engines -----------------------------------------


def _roster() -> list[Employee]:
    return [
        Employee(
            event_id=f"r-{employee}",
            occurred_at=MONDAY - 60 * DAY,
            employee_id=employee,
            department=department,
            region="EMEA",
            active=True,
            accounts=[EmployeeAccount("mastodon", f"{employee}@m", pseudonym=f"{employee}@m")],
        )
        for employee, department in [
            ("e1", "Sales"),
            ("e2", "R&D"),
            ("e3", "Sales"),
            ("e4", "Sales"),
        ]
    ]


def _post(number: int, employee: str, at: datetime, version: int = 1) -> Post:
    return Post(
        event_id=f"ev-{number}-{version}",
        occurred_at=at,
        post_id=f"p{number}",
        employee_id=employee,
        network="mastodon",
        account_id=f"{employee}@m",
        text="hello",
    )


def _slipup(number: int, employee: str, at: datetime, department: str) -> SlipUp:
    return SlipUp(
        slipup_id=f"s{number}",
        post_id=f"p{number}",
        event_id=f"ev-{number}-1",
        occurred_at=at,
        flagged_at=at + timedelta(seconds=2),
        employee_id=employee,
        department=department,
        region="EMEA",
        network="mastodon",
        rule="revenue_figures",
        category="financial_disclosure",
        severity="high",
        excerpt=f"our revenue is up, post {number}",
        hint="Never post figures before the official announcement.",
    )


def _act(
    engine: Engine,  # noqa: F811 - the fixture's type
    number: int,
    version: int,
    action: str,
    status: str,
    *,
    reason: str = "",
    note: str = "",
    outcome: str = "applied",
) -> None:
    """One review action (INSERT … SELECT: inline VALUES hang clickhouse-driver on 18.16)."""
    at = MONDAY + 3 * DAY + version * timedelta(minutes=1)
    engine.run(
        "INSERT INTO review_actions (action_id, flag_id, flag_kind, post_id, employee_id, rule, "
        "category, action, outcome, status, version, reason, note, refused_because, reviewer, "
        f"occurred_at) SELECT '{uuid.uuid4().hex}', 's{number}', 'flag', 'p{number}', '', "
        f"'revenue_figures', 'financial_disclosure', '{action}', '{outcome}', '{status}', "
        f"{version}, '{reason}', '{note}', '', 'rita', toDateTime('{at:%Y-%m-%d %H:%M:%S}', 'UTC')"
    )


def test_the_reads_and_the_command_on_both_engines(
    engine: Engine,  # noqa: F811 - the fixture of that name
    tmp_path: Path,
) -> None:
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    edited = _post(1, "e1", MONDAY + DAY, version=2)
    engine.insert(
        [
            *_roster(),
            _post(1, "e1", MONDAY),
            edited,
            edited,  # a replayed copy
            _post(2, "e1", MONDAY + DAY),
            _post(3, "e2", MONDAY + 2 * DAY),
            _post(4, "e2", MONDAY - 5 * DAY),  # the week before
            _post(5, "e3", MONDAY + 3 * DAY),
            _post(6, "e4", MONDAY + 4 * DAY),
            _post(7, "e1", WEEK.end + DAY),  # the week after: not read
            _slipup(1, "e1", MONDAY, "Sales"),
            _slipup(2, "e1", MONDAY + DAY, "Sales"),
            _slipup(3, "e2", MONDAY + 2 * DAY, "R&D"),
            _slipup(4, "e2", MONDAY - 5 * DAY, "R&D"),
            _slipup(5, "e3", MONDAY + 3 * DAY, "Marketing"),  # in Sales now
            _slipup(7, "e1", WEEK.end + DAY, "Sales"),
        ]
    )
    _act(engine, 1, 1, "claim", "claimed")
    _act(engine, 1, 2, "coach", "coached", note="Wait for the official release")
    _act(engine, 1, 3, "coach", "coached", note="a late click", outcome="refused")
    _act(engine, 2, 1, "coach", "coached", note="Same again")
    _act(engine, 3, 1, "dismiss", "dismissed", reason="false_positive", note="a product name")
    _act(engine, 5, 1, "dismiss", "dismissed", reason="not_an_issue", note="fine")
    _act(engine, 5, 2, "reopen", "open")
    _act(engine, 5, 3, "escalate", "escalated", reason="legal", note="to legal")

    data = coaching_week(engine.run, WEEK)
    assert [(f.slipup_id, f.status, f.reason, f.note) for f in data.flags] == [
        ("s4", "", "", ""),
        ("s1", "coached", "", "Wait for the official release"),
        ("s2", "coached", "", "Same again"),
        ("s3", "dismissed", "false_positive", "a product name"),
        ("s5", "escalated", "legal", "to legal"),
    ]
    assert data.flags[1].occurred_at == MONDAY and data.flags[1].severity == "high"
    assert sorted((p.employee_id, p.week.label, p.posts) for p in data.posts) == [
        ("e1", "2026-W49", 2),
        ("e2", "2026-W48", 1),
        ("e2", "2026-W49", 1),
        ("e3", "2026-W49", 1),
        ("e4", "2026-W49", 1),
    ]
    assert data.departments == {"e1": "Sales", "e2": "R&D", "e3": "Sales", "e4": "Sales"}

    write(build(data, clean_weeks=True), tmp_path)
    directory = tmp_path / "2026-W49"
    written = sorted(str(p.relative_to(directory)) for p in directory.rglob("*.md"))
    assert written == [
        f"departments/{file_stem('R&D', 'no-department')}.md",
        "departments/Sales.md",
        "employees/e1.md",
        "employees/e2.md",
        "employees/e3.md",
        "employees/e4.md",
        "index.md",
    ]
    assert "> Wait for the official release" in (directory / "employees/e1.md").read_text()
    sales = (directory / "departments/Sales.md").read_text()
    assert "| Flags | 3 | 0 | 0 | 0 | 0 |" in sales and "| Posts | 4 | 0 | 0 | 0 | 0 |" in sales
    assert "- e1: 2 confirmed flags" in sales and "- e3: 1 confirmed flag" in sales

    if isinstance(engine, ServerEngine):
        receiver = WebhookReceiver()
        receiver.start()
        try:
            result = CliRunner().invoke(
                cli,
                [
                    *("coach", "digest", "--week", "2026-W49", "--out", str(tmp_path / "cli")),
                    *("--webhook", receiver.url),
                ],
                env={"CHORUS_CLICKHOUSE_DATABASE": engine.database},
            )
        finally:
            receiver.stop()
        assert result.exit_code == 0, result.output
        assert (
            "2026-W49: 3 employee digests, 0 clean weeks, 2 department digests and the index"
            in (result.output)
        )
        assert "wrote 12 files (Markdown and HTML)" in result.output
        assert "webhook http://127.0.0.1:" in result.output and "/hook" not in result.output
        assert "3 of 3 messages delivered" in result.output
        assert [body["kind"] for body in receiver.bodies] == [
            "coaching_week",
            "coaching_department",
            "coaching_department",
        ]
        assert (tmp_path / "cli" / "2026-W49" / "employees" / "e1.html").is_file()
