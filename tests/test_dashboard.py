"""The dashboard without a server: number formatting, the pages, the data object, the SQL on chdb.

The dashboard's queries (`pipeline.warehouse.reads`) also run here on current ClickHouse
(chdb, in-process) against a migrated database holding a simulated company, so
they stay portable; the 18.16 server and the browser are in
test_dashboard_browser.py.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import markupsafe
import msgspec
import pytest
from click.testing import CliRunner

from pipeline import conversation as talk
from pipeline import warehouse
from pipeline.audience import report
from pipeline.audience.report import Report
from pipeline.cli.dashboard import command
from pipeline.conversation import Conversation
from pipeline.dashboard import data
from pipeline.dashboard.data import Dashboard, MediaPrices
from pipeline.dashboard.render import (
    count,
    hours,
    moment,
    money,
    ordinal,
    percent,
    render_page,
    render_problem,
    titles,
)
from pipeline.settings import Settings
from pipeline.warehouse import reads
from pipeline.warehouse.conversation import active_ambassadors_by_day, conversation, data_end
from pipeline.warehouse.reads import Incident, SlipUpCount
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, ScopeMetrics
from tests.support import free_port
from tests.test_dashboard_browser import CHARTS, company_records, element_text, table_rows
from tests.test_warehouse import ChdbEngine

TAKEN_AT = datetime(2030, 3, 2, 12, 0, tzinfo=UTC)


def test_numbers_are_formatted_for_people() -> None:
    assert count(1_234_567.4) == "1,234,567"
    assert count(999.6) == "1,000"
    assert count(0) == "0"
    assert percent(0.6821) == "68.2%"
    assert percent(0.95, 0) == "95%"
    assert percent(0) == "0.0%"
    assert moment(datetime(2026, 10, 7, 14, 5, 59, tzinfo=UTC)) == "2026-10-07 14:05 UTC"
    assert hours(5400) == "1.5 h"
    assert money(12_345.6, "EUR") == "EUR 12,346"
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]  # fmt: skip


def test_an_empty_database_gives_a_no_data_page_without_charts() -> None:
    empty = Dashboard("chorus", TAKEN_AT, [], None)
    page = render_page(empty, refresh_seconds=30)
    assert 'id="no-data"' in page and "No data yet" in page and "<code>chorus</code>" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "Plotly" not in page and len(page) < 20_000  # the library is not even loaded


def test_a_problem_page_says_what_is_wrong_escaped() -> None:
    page = render_problem("ClickHouse has no database 'x<y>'. Create it with `chorus db migrate`.")
    assert 'id="problem"' in page
    assert "no database &#39;x&lt;y&gt;&#39;" in page
    assert "http-equiv" not in page


def _scope(kind: str, scope: str, employees: int, naive: int, persons: int) -> ScopeMetrics:
    return ScopeMetrics(
        snapshot_id="s2",
        taken_at=TAKEN_AT,
        scope_kind=kind,  # type: ignore[arg-type]
        scope=scope,
        employees=employees,
        naive_reach=naive,
        distinct_accounts=persons + 10,
        distinct_persons=persons,
        estimated_persons=persons * 1.1,
        ci_low=persons * 1.05,
        ci_high=persons * 1.15,
    )


def _employee(
    name: str, department: str, region: str, followers: int, exclusive: int, cluster: int
) -> EmployeeReach:
    return EmployeeReach(
        snapshot_id="s2",
        taken_at=TAKEN_AT,
        employee_id=name,
        department=department,
        region=region,
        naive_followers=followers * 2,
        followers=followers,
        exclusive_followers=exclusive,
        cluster=cluster,
        top_overlaps=[],
    )


def _campaign(name: str, employees: int, naive: int, persons: int) -> CampaignReach:
    return CampaignReach(
        snapshot_id="s2",
        taken_at=TAKEN_AT,
        campaign_id=name,
        relaying_employees=employees,
        posts=employees * 2,
        naive_reach=naive,
        distinct_persons=persons,
    )


def _conversation() -> dict[str, Conversation]:
    """The 30 days to TAKEN_AT, every scope the page reads."""

    def scope(name: str, **counts: object) -> tuple[str, Conversation]:
        return name, Conversation(name, **counts)  # type: ignore[arg-type]

    return dict(
        [
            scope(
                "company",
                posts=40,
                replies_outside=10,
                comments=20,
                answered=15,
                median_response_seconds=5_400,
                engagements=3_000,
                engaged_persons=1_200,
                clicks=140,
                ambassadors=4,
                active_ambassadors=3,
            ),
            scope(
                "department:sales",
                posts=30,
                replies_outside=9,
                comments=15,
                answered=12,
                median_response_seconds=7_200,
            ),
            scope(
                "department:legal",
                posts=10,
                replies_outside=1,
                comments=5,
                answered=3,
                median_response_seconds=1_800,
            ),
            scope("department:quiet", ambassadors=1),  # no post, no comment: not shown
            scope("network:linkedin", posts=25, clicks=40),
            scope("network:x", posts=15, clicks=100),
            scope("employee:ana", posts=20, replies_outside=2, comments=10, answered=5),
            scope("employee:bo", posts=10, replies_outside=7),
            scope("employee:cy", posts=10, replies_outside=1, comments=10, answered=10),
        ]
    )


PRICES = MediaPrices("EUR", {"*": 6.0, "linkedin": 30.0}, {"*": 0.8, "linkedin": 5.0})


@pytest.fixture
def dashboard() -> Dashboard:
    company = _scope("company", "", 4, 25_000, 12_345)
    earlier = msgspec.structs.replace(
        company, snapshot_id="s1", taken_at=TAKEN_AT - timedelta(hours=12), distinct_persons=11_000
    )
    employees = [
        _employee("ana", "sales", "france", 6_000, 4_000, 0),
        _employee("bo", "sales", "uk", 5_000, 1_000, 0),
        _employee("cy", "legal", "uk", 3_000, 2_000, 1),
        _employee("di", "legal", "france", 900, 0, -1),
    ]
    scopes = [
        company,
        _scope("department", "legal", 2, 5_000, 3_500),
        _scope("department", "sales", 2, 20_000, 9_000),
        _scope("region", "france", 2, 13_000, 6_500),
        _scope("region", "uk", 2, 12_000, 7_000),
        _scope("network", "linkedin", 3, 10_000, 5_000),
        _scope("network", "x", 2, 15_000, 7_000),
    ]
    campaigns = [
        _campaign("autumn", 2, 2_500, 2_000),
        _campaign("spring", 4, 31_000, 12_400),
        _campaign("unrelayed", 0, 0, 0),
    ]
    last_day = TAKEN_AT.date()
    active = [
        (last_day - timedelta(days=29 - n), 1 + n // 15 + (n == 29), 4) for n in range(30)
    ]  # 1 on the first day, 3 on the last
    shares = [(4_000, "ana"), (8_000, "bo"), (11_000, "cy"), (12_345, "di")]
    coverage = [
        CoveragePoint(
            snapshot_id="s2",
            taken_at=TAKEN_AT,
            rank=rank,
            employee_id=name,
            new_persons=0,
            cumulative_persons=persons,
            cumulative_share=persons / 12_345,
        )
        for rank, (persons, name) in enumerate(shares, start=1)
    ]
    slipups = [
        SlipUpCount(TAKEN_AT - timedelta(hours=3), "confidential_leak", 1),
        SlipUpCount(TAKEN_AT - timedelta(hours=2), "profanity_insult", 5),
        SlipUpCount(TAKEN_AT - timedelta(hours=2), "personal_data", 2),
    ]
    opened = TAKEN_AT - timedelta(hours=2)
    incidents = [
        Incident(
            "i2", "department", "sales", "firing", opened, None, 5, 0.02, 1e-9, "<spike> in sales"
        ),
        Incident(
            "i1",
            "company",
            "all",
            "resolved",
            opened,
            opened + timedelta(minutes=30),
            6,
            0.02,
            1e-9,
            "over",
        ),
    ]
    return Dashboard(
        "chorus",
        TAKEN_AT,
        [earlier, company],
        Report(scopes, employees, coverage, campaigns),
        slipups,
        "hour",
        incidents,
        _conversation(),
        TAKEN_AT,
        30,
        active,
        PRICES,
    )


def test_the_data_object_answers_each_chart(dashboard: Dashboard) -> None:
    departments = dashboard.scopes("department")
    assert [(s.name, s.true_reach, s.exclusive_reach, s.naive_reach) for s in departments] == [
        ("sales", 9_000, 5_000, 20_000),
        ("legal", 3_500, 2_000, 5_000),
    ]
    assert [(s.name, s.exclusive_reach) for s in dashboard.scopes("region")] == [
        ("uk", 3_000),
        ("france", 4_000),
    ]
    assert [e.employee_id for e in dashboard.top_employees()] == ["ana", "cy", "bo"]  # di: none
    assert [(c.number, c.employees, c.followers) for c in dashboard.clusters()] == [
        (0, 2, 11_000),
        (1, 1, 3_000),
    ]
    assert [i.incident_id for i in dashboard.open_incidents()] == ["i2"]
    assert [c.campaign_id for c in dashboard.campaigns()] == ["spring", "autumn"]  # none: left out
    assert [(d.name, d.conversation_share, d.median_response_seconds) for d in
            dashboard.department_conversation()] == [("sales", 0.3, 7_200), ("legal", 0.1, 1_800)]  # fmt: skip
    # Exclusive reach first, conversation second; never the follower count.
    assert [
        (leader.employee_id, leader.conversation_share) for leader in dashboard.leaderboard()
    ] == [
        ("ana", 0.1),
        ("cy", 0.1),
        ("bo", 0.7),
        ("di", 0.0),
    ]
    value = dashboard.earned_media_value()
    assert value is not None and value.currency == "EUR"
    # linkedin: 5,500 persons x 30 / 1,000 + 40 clicks x 5; x: 7,700 x 6 / 1,000 + 100 x 0.8
    assert value.deduplicated == pytest.approx(165 + 200 + 46.2 + 80)
    assert value.naive == pytest.approx(300 + 200 + 90 + 80)
    assert dashboard.conversation_headline() == talk.headline(
        _conversation()["company"], 12_345 * 1.1, 30
    )


def test_each_new_panel_is_titled_with_its_finding(dashboard: Dashboard) -> None:
    assert titles(dashboard) == {
        "campaigns": "Campaign 'spring' reached 12,400 people, not the 31,000 the naive sum says",
        "engaged": "1,200 people engaged in 30 days (8.8% of the true community), "
        "not the 3,000 engagements a naive sum counts",
        "ambassadors": "3 of 4 ambassadors (75%) posted in the last 7 days, up from 1 on 1 Feb",
        "conversation": "sales converses most: 30% of its posts answer someone outside; "
        "legal answers comments fastest (median 0.5 h)",
        "leaderboard": "ana brings the most people no colleague reaches (4,000) "
        "and is also the most followed",
        "emv": "Earned media value, an estimate: EUR 491 counting each person once, "
        "not the EUR 670 of the naive sum",
    }


def test_the_titles_say_what_the_data_says_when_it_is_thin(dashboard: Dashboard) -> None:
    report_ = dashboard.latest
    assert report_ is not None
    followed = msgspec.structs.replace(report_.employees[3], followers=9_000)  # di, no exclusive
    silent = {
        scope: dataclasses.replace(c, replies_outside=0, answered=0, median_response_seconds=0)
        for scope, c in _conversation().items()
    }
    thin = dataclasses.replace(
        dashboard,
        latest=Report(report_.scopes, [*report_.employees[:3], followed], report_.coverage, []),
        conversation=silent,
        active_ambassadors=[(d, 3, 4) for d, _, _ in dashboard.active_ambassadors],
    )
    found = titles(thin)
    assert "campaigns" not in found
    assert found["conversation"] == (
        "Broadcast, not conversation: none of 40 posts in 30 days answers someone outside; "
        "no comment from outside was answered within 24 h"
    )
    assert found["leaderboard"] == (
        "ana brings the most people no colleague reaches (4,000); the most followed, di, ranks 4th"
    )
    assert found["ambassadors"] == "3 of 4 ambassadors (75%) posted in the last 7 days"


def test_a_window_that_begins_before_the_data_starts_where_the_posting_does(
    dashboard: Dashboard,
) -> None:
    days = [day for day, _, _ in dashboard.active_ambassadors]
    late = dataclasses.replace(
        dashboard,
        active_ambassadors=[
            (day, 0 if n < 25 else min(n - 23, 4), 4) for n, day in enumerate(days)
        ],
        conversation={
            **dashboard.conversation,
            "department:legal": dataclasses.replace(
                dashboard.conversation["department:legal"], median_response_seconds=9_000
            ),
        },
    )
    found = titles(late)
    # Before the first post there was nothing to count: not "up from 0 on 1 Feb".
    assert (
        found["ambassadors"]
        == "4 of 4 ambassadors (100%) posted in the last 7 days, up from 2 on 26 Feb"
    )
    assert found["conversation"] == (
        "sales converses most: 30% of its posts answer someone outside "
        "and it answers comments fastest (median 2.0 h)"
    )
    page = render_page(late, inline_plotly=False)
    chart = page.split('id="chart-ambassadors"', 1)[1]
    assert '"x":["2030-02-26","2030-02-27","2030-02-28","2030-03-01","2030-03-02"]' in chart


def test_the_live_page_has_every_chart_the_headline_and_the_open_incidents(
    dashboard: Dashboard,
) -> None:
    page = render_page(dashboard, inline_plotly=False, refresh_seconds=30)
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in page
    assert page.count("Plotly.newPlot(") == len(CHARTS)
    assert '<script src="/plotly.min.js"></script>' in page
    assert '<meta http-equiv="refresh" content="30">' in page
    company = dashboard.company
    assert company is not None
    figure, basis = report.headline(company)
    assert figure == "True community 13,580 persons"  # the estimate leads, as in the CLI
    assert element_text(page, "community-figure") == figure
    assert element_text(page, "community-basis") == basis
    assert "12,345 of them counted one by one" in basis
    assert 'id="true-community">13,580<' in page
    assert 'id="naive-reach">25,000<' in page
    assert 'id="overlap">45.7%<' in page  # 1 - 13,579.5 / 25,000
    assert "50%: <b>2 employees</b>" in page and "95%: <b>4 employees</b>" in page
    assert "Open incidents (1)" in page and "&lt;spike&gt; in sales" in page
    for number, line in enumerate(dashboard.conversation_headline(), start=1):
        assert element_text(page, f"conversation-line-{number}") == line
    for title in titles(dashboard).values():
        assert f"{markupsafe.escape(title)}</h2>" in page
    assert "the 30 days to 2030-03-02 12:00 UTC" in page
    assert table_rows(page, "leaderboard") == [
        ["1", "ana", "sales", "4,000", "6,000", "10%", "50%", "20"],
        ["2", "cy", "legal", "2,000", "3,000", "10%", "100%", "10"],
        ["3", "bo", "sales", "1,000", "5,000", "70%", "–", "10"],  # no comment to answer
        ["4", "di", "legal", "0", "900", "–", "–", "0"],  # no post
    ]
    assert '<span class="estimate">estimate</span>' in page
    assert (
        "EUR 30 on linkedin, EUR 6 elsewhere; per click EUR 5 on linkedin, EUR 0.8 elsewhere"
        in page
    )


def test_without_posts_the_conversation_panels_say_no_data_yet(dashboard: Dashboard) -> None:
    quiet = dataclasses.replace(
        dashboard, conversation={}, conversation_end=None, active_ambassadors=[], prices=None
    )
    page = render_page(quiet, inline_plotly=False)
    assert page.count("Plotly.newPlot(") == len(CHARTS) - 4  # the campaigns stay: the snapshot
    for chart in ("engaged", "ambassadors", "conversation", "emv"):
        assert f'id="chart-{chart}"' not in page
    assert 'id="conversation-none"' in page and "No data yet: no post or engagement" in page
    assert "No data yet: no engagement in the last 30 days." in page
    assert "conversation: the" not in page  # no window in the header
    # The leaderboard still ranks by exclusive reach; no posts: no conversation figure.
    assert '<td class="num">4,000</td>' in page and '<td class="num">–</td>' in page


def test_prices_that_do_not_parse_are_said_where_the_value_would_be(dashboard: Dashboard) -> None:
    settings = dataclasses.replace(Settings.from_env(), emv_cpm="*=6,linkedin=lots")
    with pytest.raises(ValueError, match="CHORUS_EMV_CPM: price 'linkedin=lots'"):
        MediaPrices.from_settings(settings)
    assert MediaPrices.from_settings(Settings.from_env()).cpm["*"] > 0
    broken = dataclasses.replace(
        dashboard, prices=None, prices_problem="CHORUS_EMV_CPM: price 'x' is not network=number"
    )
    page = render_page(broken, inline_plotly=False)
    assert 'id="chart-emv"' not in page
    assert "Not shown: CHORUS_EMV_CPM: price &#39;x&#39; is not network=number" in page


LINK = '<a href="https://evil">x</a>'
MENTION = "<!channel>"


def test_names_from_the_data_are_text_in_every_chart_and_table(dashboard: Dashboard) -> None:
    """Plotly draws `<a href>` in a label as a live link, so every name reaches it escaped."""
    report = dashboard.latest
    assert report is not None
    names = {"sales": LINK, "legal": MENTION, "uk": LINK, "ana": LINK, "cy": MENTION}
    hostile = dataclasses.replace(
        dashboard,
        latest=Report(
            [msgspec.structs.replace(s, scope=names.get(s.scope, s.scope)) for s in report.scopes],
            [
                msgspec.structs.replace(
                    e,
                    employee_id=names.get(e.employee_id, e.employee_id),
                    department=names[e.department],
                )
                for e in report.employees
            ],
            [
                msgspec.structs.replace(p, employee_id=names.get(p.employee_id, p.employee_id))
                for p in report.coverage
            ],
            [msgspec.structs.replace(c, campaign_id=LINK) for c in report.campaigns[:1]],
        ),
        conversation={
            (
                f"department:{names.get(scope[11:], scope[11:])}"
                if scope.startswith("department:")
                else scope
            ): c
            for scope, c in dashboard.conversation.items()
        },
        slipups=[dataclasses.replace(c, category=LINK) for c in dashboard.slipups],
        incidents=[
            dataclasses.replace(i, scope=MENTION, summary=f"spike in {LINK}")
            for i in dashboard.incidents
        ],
    )
    page = render_page(hostile, inline_plotly=False)
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in page
    # The charts' JSON writes `/` as `\\u002f` and `"` as `\\"`: read it as the browser does.
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), page).replace('\\"', '"')
    assert "<a href" not in text and "<!channel" not in text  # no live anchor, no mention
    link, mention = html.escape(LINK, quote=False), html.escape(MENTION)
    assert f'"y":["{link}","{mention}"]' in text  # the departments' tick labels
    assert f'"{link} · {link}"' in text  # an employee (ana) and her department (sales)
    assert f'"name":"{link}"' in text  # a slip-up category in the legend
    # The departments' three bars, and both of the conversation by department (sales, legal).
    assert text.count(f'"y":["{link}","{mention}"]') == 5
    assert f'"y":["{link}"]' in text  # a campaign
    assert f'<td class="firing">department {mention}</td>' in text  # the open incidents
    assert f"<td>spike in {markupsafe.escape(LINK)}</td>" in text


def test_the_written_page_inlines_plotly(dashboard: Dashboard) -> None:
    page = render_page(dashboard)
    assert "<script src=" not in page and "http-equiv" not in page
    assert len(page) > 3_000_000  # the library itself


def test_the_command_explains_an_unreachable_clickhouse(tmp_path) -> None:
    settings = dataclasses.replace(Settings.from_env(), clickhouse_port=free_port())
    out = tmp_path / "dashboard.html"
    result = CliRunner().invoke(command, ["--out", str(out)], obj=settings)
    assert result.exit_code == 1
    assert "ClickHouse is not reachable" in result.output and "chorus services up" in result.output
    assert not out.exists()
    nowhere = CliRunner().invoke(command, [], obj=settings)
    assert nowhere.exit_code == 2 and "--out FILE.html and/or --serve" in nowhere.output


# The queries on current ClickHouse -----------------------------------------------------


@pytest.fixture(scope="module")
def chdb_company() -> Iterator[ChdbEngine]:
    engine = ChdbEngine(f"test_dashboard_{free_port()}")
    try:
        warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
        engine.insert(company_records())
        yield engine
    finally:
        engine.close()


def _literal(sql: str, **params: str | int) -> str:
    """clickhouse-driver's client-side parameters, for chdb (values here need no escaping)."""
    return sql % {k: f"'{v}'" if isinstance(v, str) else v for k, v in params.items()}


def test_the_dashboard_queries_run_on_current_clickhouse(chdb_company: ChdbEngine) -> None:
    ((first, last),) = chdb_company.run(reads.COMPANY_SPAN_SQL)
    assert int(last) - int(first) > 86400
    snapshots = chdb_company.run(_literal(reads.COMPANY_TREND_SQL, slot_seconds=3600))
    assert len(snapshots) > 5
    latest = str(snapshots[-1][1])
    for sql in (
        reads.SNAPSHOT_SCOPES_SQL,
        reads.SNAPSHOT_EMPLOYEES_SQL,
        reads.SNAPSHOT_COVERAGE_SQL,
        reads.SNAPSHOT_CAMPAIGNS_SQL,
    ):
        assert chdb_company.run(_literal(sql, snapshot=latest)), sql
    history = int(data.SLIPUP_HISTORY.total_seconds())
    assert chdb_company.run(_literal(reads.HOURLY_SLIPUPS_SQL, history_seconds=history))
    assert chdb_company.run(_literal(reads.RECENT_INCIDENTS_SQL, limit=data.INCIDENT_LIMIT))


def test_the_conversation_reads_run_on_current_clickhouse(chdb_company: ChdbEngine) -> None:
    end = data_end(chdb_company.run)
    assert end is not None
    scopes = conversation(chdb_company.run, end, data.CONVERSATION_DAYS)
    company = scopes["company"]
    assert company.posts and company.engagements >= company.engaged_persons > 0
    assert company.ambassadors >= company.active_ambassadors > 0
    assert any(scope.startswith("department:") and c.posts for scope, c in scopes.items())
    assert any(scope.startswith("network:") and c.clicks for scope, c in scopes.items())
    series = active_ambassadors_by_day(chdb_company.run, end, data.CONVERSATION_DAYS)
    assert len(series) == data.CONVERSATION_DAYS and series[-1][1] > 0
