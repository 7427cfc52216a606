"""The dashboard in a real browser, from a real ClickHouse holding a simulated company.

The company is made the way the pipeline makes it: simulated events go through
the ingestor into the audience engine (a snapshot every 12 hours, with the
persons of linked accounts), posts through the policy and the spike detector,
and the resulting rows, with the roster, posts and engagements the raw sink
keeps, through the warehouse's inserts. The stream stops 20 minutes after the
second injected spike began, so one incident has resolved and one is still
firing.

Chromium renders the written page headless: its DOM after the scripts ran must
hold one drawn plotly chart per chart, the headline as `chorus audience
report` words it, and the conversation figures ClickHouse holds; a screenshot
is left in artifacts/dashboard.png for people to look at.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from click.testing import CliRunner
from clickhouse_driver import Client

from pipeline import conversation as talk
from pipeline import warehouse
from pipeline.audience import report
from pipeline.audience.graph import AudienceGraph
from pipeline.cli.dashboard import command
from pipeline.dashboard.data import (
    CONVERSATION_DAYS,
    WarehouseUnavailable,
    load_dashboard,
    read_dashboard,
)
from pipeline.dashboard.render import count, percent, render_page
from pipeline.ingest import DEVELOPMENT_KEY, Accepted, Ingestor, Pseudonymiser
from pipeline.policy import Policy, flag_post
from pipeline.settings import Settings
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.slipups.spikes import SpikeDetector
from pipeline.warehouse.conversation import conversation, data_end
from pipeline.workspace.users import Users
from schemas.events import Employee, Engagement, Post
from schemas.metrics import AccountPerson
from schemas.slipups import Alert, SlipUp
from tests.support import ARTIFACTS
from tests.test_workspace_browser import ServedWorkspace

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = (
    "trend",
    "coverage",
    "engaged",
    "ambassadors",
    "conversation",
    "campaigns",
    "emv",
    "departments",
    "regions",
    "employees",
    "clusters",
    "slipups",
)
SNAPSHOT_EVERY = timedelta(hours=12)
LATENESS = timedelta(minutes=10)  # the spike detector's default: two 5-minute windows
VIEWER_PASSWORD = "a viewer's long password"


def company_records(employees: int = 60, seed: int = 2) -> list[Any]:
    """Every row the pipeline would have written for a simulated company (seed 2: two spikes).

    Follows and account statistics are left out: only the audience engine reads them.
    """
    simulation = simulate(SimulationConfig(seed=seed, employees=employees, days=7, spikes=2))
    last_spike = max(
        datetime.fromisoformat(spike["start"].replace("Z", "+00:00"))
        for spike in simulation.truth["spikes"]
    )
    stop = last_spike + timedelta(minutes=20)
    ingestor = Ingestor(Pseudonymiser(DEVELOPMENT_KEY), clock=lambda: stop)
    graph = AudienceGraph()
    policy = Policy.load()
    detector = SpikeDetector()
    roster: dict[str, Employee] = {}
    records: list[Any] = []
    next_snapshot: datetime | None = None
    for line in simulation.lines():
        outcome = ingestor.process(line)
        if not isinstance(outcome, Accepted):
            continue
        event = outcome.event
        if event.occurred_at >= stop:
            break
        if next_snapshot is None:
            next_snapshot = event.occurred_at + SNAPSHOT_EVERY
        while event.occurred_at >= next_snapshot:
            records += graph.snapshot(f"s-{next_snapshot:%Y%m%dT%H%M}", next_snapshot)
            next_snapshot += SNAPSHOT_EVERY
        graph.apply(event)
        if isinstance(event, Employee | Post | Engagement):
            records.append(event)
        if isinstance(event, Employee):
            roster[event.employee_id] = event
        elif isinstance(event, Post):
            known = roster.get(event.employee_id)
            department, region = (known.department, known.region) if known else ("", "")
            for slipup in flag_post(policy, event, department, region, event.occurred_at):
                records.append(slipup)
                records += detector.observe(slipup)
            # Event time moves on between slip-ups too (the monitor's idle clock), so
            # incidents resolve in quiet hours.
            records += detector.advance(event.occurred_at - LATENESS)
    last = f"s-{stop:%Y%m%dT%H%M}"
    records += graph.snapshot(last, stop)
    records += [
        AccountPerson(snapshot_id=last, taken_at=stop, account=a, person=p, colleague=colleague)
        for a, (p, colleague) in sorted(graph.linked_accounts().items())
    ]
    return records


class _ElementText(HTMLParser):
    """The text inside the element with one id (nested tags dropped)."""

    VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})  # fmt: skip

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.found = element_id, 0, False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += tag not in self.VOID
        elif not self.found and dict(attrs).get("id") == self.element_id:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def element_text(page: str, element_id: str) -> str:
    """What a reader sees of the element with id `element_id`: its text, white space collapsed."""
    parser = _ElementText(element_id)
    parser.feed(page)
    assert parser.found, f"no element with id {element_id!r}"
    return " ".join("".join(parser.parts).split())


def table_rows(page: str, section_id: str) -> list[list[str]]:
    """The cells of the table in the section with id `section_id`, row by row."""
    part = page.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", part, re.S)
    ]
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        for cells in rows
        if cells
    ]


def insert_records(client: Client, records: Sequence[Any]) -> None:
    for kind in {type(r) for r in records}:
        table = warehouse.TABLES[kind]
        batch = [r for r in records if type(r) is kind]
        warehouse.insert_columns(client, table, table.to_columns(batch))


def migrate(client: Client) -> None:
    warehouse.Migrator(client.execute, warehouse.load_migrations()).migrate()


def chromium(page: Path, profile: Path, *options: str) -> str:
    """Run headless chromium on `page` with `options`; its stdout."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *options,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture
def company(clickhouse: Client) -> list[Any]:
    migrate(clickhouse)
    records = company_records()
    insert_records(clickhouse, records)
    return records


@pytest.mark.clickhouse
def test_the_written_page_draws_every_chart_and_the_headline_clickhouse_holds(
    clickhouse: Client, company: list[Any], tmp_path: Path
) -> None:
    # `make test` installs it; a missing browser is a broken setup, not a reason to skip.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `apt-get install chromium` (make test does)"
    dashboard = load_dashboard(clickhouse, clickhouse.connection.database)
    page = tmp_path / "dashboard.html"
    page.write_text(render_page(dashboard), encoding="utf-8")
    assert "<script src=" not in page.read_text()  # plotly inlined: the file opens offline

    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    for chart in CHARTS:
        div = dom.split(f'id="chart-{chart}"', 1)
        assert len(div) == 2, f"no {chart} chart in the page"
        drawn = div[1].split("</section>", 1)[0]
        assert 'class="main-svg"' in drawn and "plot-container" in drawn, f"{chart} not drawn"
    assert dom.count('class="plot-container plotly"') == len(CHARTS)  # every chart drawn, once

    # The headline: what `chorus audience report` leads with, word for word.
    ((naive, persons, estimated, low, high),) = clickhouse.execute(
        "SELECT naive_reach, distinct_persons, estimated_persons, ci_low, ci_high "
        "FROM community_scopes FINAL WHERE scope_kind = 'company' "
        "ORDER BY taken_at DESC LIMIT 1"
    )
    assert 1000 <= persons < naive  # big enough for a thousands separator, and overlapping
    assert dashboard.company is not None
    figure, basis = report.headline(dashboard.company)
    assert figure == f"True community {estimated:,.0f} persons"
    assert element_text(dom, "community-figure") == figure
    assert element_text(dom, "community-basis") == basis
    assert (
        f"{low:,.0f} - {high:,.0f}" in basis and f"{persons:,} of them counted one by one" in basis
    )
    assert f'id="true-community">{count(estimated)}<' in dom
    assert f'id="naive-reach">{count(naive)}<' in dom
    assert f'id="overlap">{percent(1 - estimated / naive)}<' in dom

    # The conversation, as the CLI says it, over the 30 days to the data's last event.
    end = data_end(clickhouse.execute)
    assert end is not None
    said = conversation(clickhouse.execute, end, CONVERSATION_DAYS)["company"]
    assert said.posts and said.engaged_persons and said.active_ambassadors
    lines = talk.headline(said, estimated, CONVERSATION_DAYS)
    assert [element_text(dom, f"conversation-line-{n}") for n in (1, 2)] == lines
    ((most_exclusive,),) = clickhouse.execute(
        "SELECT max(exclusive_followers) FROM employee_reach FINAL WHERE snapshot_id = %(id)s",
        {"id": dashboard.company.snapshot_id},
    )
    leaders = table_rows(dom, "leaderboard")
    assert len(leaders) == 15 and leaders[0][0] == "1" and leaders[0][3] == count(most_exclusive)
    assert element_text(dom, "emv").startswith("estimate Earned media value, an estimate: EUR ")
    for section in ("engaged", "ambassadors", "conversation-departments", "campaigns"):
        assert "No data yet" not in element_text(dom, section), section
    firing = {a.incident_id for a in company if isinstance(a, Alert) and a.status == "firing"}
    resolved = {a.incident_id for a in company if isinstance(a, Alert) and a.status == "resolved"}
    assert resolved and firing - resolved
    assert f"Open incidents ({len(firing - resolved)})" in dom
    assert any(isinstance(r, SlipUp) for r in company)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    chromium(
        page,
        tmp_path / "profile-shot",
        f"--screenshot={screenshot}",
        "--window-size=1366,4300",
    )
    assert screenshot.stat().st_size > 50_000
    shutil.copy(page, ARTIFACTS / "dashboard.html")


def _on(settings: Settings, client: Client) -> Settings:
    return dataclasses.replace(settings, clickhouse_database=client.connection.database)


@pytest.mark.clickhouse
def test_an_empty_database_gives_the_no_data_page(clickhouse: Client, settings: Settings) -> None:
    migrate(clickhouse)
    dashboard = read_dashboard(_on(settings, clickhouse))
    assert dashboard.latest is None and dashboard.trend == [] and dashboard.slipups == []
    page = render_page(dashboard)
    assert 'id="no-data"' in page and "No data yet" in page
    assert "Plotly.newPlot" not in page


@pytest.mark.clickhouse
def test_a_missing_database_or_table_is_explained(clickhouse: Client, settings: Settings) -> None:
    missing = dataclasses.replace(
        settings, clickhouse_database=f"{clickhouse.connection.database}_gone"
    )
    with pytest.raises(WarehouseUnavailable, match=r"no database '\w+_gone'.*chorus db migrate"):
        read_dashboard(missing)
    with pytest.raises(WarehouseUnavailable, match=r"table .* is missing.*chorus db migrate"):
        read_dashboard(_on(settings, clickhouse))  # the database exists, not migrated


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_the_command_writes_the_page_and_serves_it_live(
    clickhouse: Client, company: list[Any], namespace: Settings, tmp_path: Path
) -> None:
    mine = dataclasses.replace(_on(namespace, clickhouse), users_file=str(tmp_path / "users.json"))
    out = tmp_path / "page" / "dashboard.html"
    result = CliRunner().invoke(command, ["--out", str(out)], obj=mine)
    assert result.exit_code == 0, result.output
    assert f"dashboard written to {out}" in result.output
    assert 'id="true-community">' in out.read_text()

    # `chorus dashboard --serve` is the workspace: a viewer logs in to see the page.
    Users(mine.users_path).add("vic", "viewer", VIEWER_PASSWORD)
    with ServedWorkspace(mine) as served:
        asyncio.run(_served_to_a_viewer(served.url, clickhouse))


async def _served_to_a_viewer(base: str, clickhouse: Client) -> None:
    async with (
        ClientSession(base) as stranger,
        stranger.get("/dashboard", allow_redirects=False) as response,
    ):
        assert response.status == 303
        assert response.headers["Location"].startswith("/login?next=")
    # As browsers do, http://127.0.0.1 counts as a secure origin for the Secure cookie.
    jar = CookieJar(unsafe=True, treat_as_secure_origin=base)
    async with ClientSession(base, cookie_jar=jar) as viewer:
        async with viewer.get("/login") as response:
            token = re.search(r'name="csrf" value="([^"]+)"', await response.text())
        assert token is not None
        login = {"csrf": token.group(1), "name": "vic", "password": VIEWER_PASSWORD}
        async with viewer.post("/login", data=login) as response:  # then / then /dashboard
            page = await response.text()
            assert response.status == 200 and response.url.path == "/dashboard"
        assert 'id="chart-trend"' in page
        assert '<meta http-equiv="refresh" content="30">' in page
        assert '<script src="/plotly.min.js"></script>' in page
        async with viewer.get("/plotly.min.js") as response:
            assert response.headers["Cache-Control"].startswith("private, max-age=")
            assert len(await response.read()) > 3_000_000
        async with viewer.get("/elsewhere") as response:
            assert response.status == 404
        clickhouse.execute("DROP TABLE community_scopes")
        async with viewer.get("/dashboard") as response:
            assert response.status == 503
            assert "chorus db migrate" in await response.text()
