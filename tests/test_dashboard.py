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

from pipeline import warehouse
from pipeline.audience.report import Report
from pipeline.cli.dashboard import command
from pipeline.dashboard import data
from pipeline.dashboard.data import Dashboard
from pipeline.dashboard.render import count, moment, percent, render_page, render_problem
from pipeline.settings import Settings
from pipeline.warehouse import reads
from pipeline.warehouse.reads import Incident, SlipUpCount
from schemas.metrics import CoveragePoint, EmployeeReach, ScopeMetrics
from tests.support import free_port
from tests.test_dashboard_browser import CHARTS, company_records
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
    ]
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
        Report(scopes, employees, coverage, []),
        slipups,
        "hour",
        incidents,
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


def test_the_live_page_has_every_chart_the_headline_and_the_open_incidents(
    dashboard: Dashboard,
) -> None:
    page = render_page(dashboard, inline_plotly=False, refresh_seconds=30)
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in page
    assert page.count("Plotly.newPlot(") == len(CHARTS)
    assert '<script src="/plotly.min.js"></script>' in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert 'id="true-community">12,345<' in page
    assert 'id="naive-reach">25,000<' in page
    assert 'id="estimated-persons">13,580<' in page
    assert 'id="estimate-interval">12,962 – 14,197<' in page
    assert 'id="overlap">45.7%<' in page  # 1 - 13,579.5 / 25,000
    assert "50%: <b>2 employees</b>" in page and "95%: <b>4 employees</b>" in page
    assert "Open incidents (1)" in page and "&lt;spike&gt; in sales" in page


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
            [],
        ),
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
    ):
        assert chdb_company.run(_literal(sql, snapshot=latest)), sql
    history = int(data.SLIPUP_HISTORY.total_seconds())
    assert chdb_company.run(_literal(reads.HOURLY_SLIPUPS_SQL, history_seconds=history))
    assert chdb_company.run(_literal(reads.RECENT_INCIDENTS_SQL, limit=data.INCIDENT_LIMIT))
