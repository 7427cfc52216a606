"""The Grafana dashboard's SQL runs on a migrated database, so it cannot rot.

Every panel query and annotation query of infra/grafana/chorus-dashboard.json
is taken out of the JSON, its Grafana macros replaced by what the
grafana-clickhouse-datasource plugin would send, and run on the local 18.16
server and on current ClickHouse (chdb), against a simulated company; each must
return rows. The headline leads with the figure `chorus audience report` leads
with, and the earned media value prices at the settings' defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from pipeline import warehouse
from pipeline.conversation import prices
from pipeline.settings import PROJECT_ROOT, Settings
from tests.support import free_port
from tests.test_dashboard_browser import company_records, insert_records, migrate
from tests.test_warehouse import ChdbEngine

DASHBOARD = PROJECT_ROOT / "infra" / "grafana" / "chorus-dashboard.json"
PLUGIN = "grafana-clickhouse-datasource"
# The panel time range in the test: wide enough for the simulated company (2026).
FROM, TO = 1_700_000_000, 2_000_000_000
MACROS = {
    re.compile(r"\$__timeFilter\((\w+)\)"): rf"\1 >= toDateTime({FROM}) AND \1 <= toDateTime({TO})",
    re.compile(r"\$__fromTime\b"): f"toDateTime({FROM})",
    re.compile(r"\$__toTime\b"): f"toDateTime({TO})",
}


def queries(path: Path = DASHBOARD) -> dict[str, dict[str, Any]]:
    """Every query target of the dashboard, by panel (or annotation) title."""
    dashboard = json.loads(path.read_text())
    found = {f"panel {p['title']}": target for p in dashboard["panels"] for target in p["targets"]}
    found.update({f"annotation {a['name']}": a["target"] for a in dashboard["annotations"]["list"]})
    return found


def expand_macros(sql: str) -> str:
    for pattern, replacement in MACROS.items():
        sql = pattern.sub(replacement, sql)
    assert "$" not in sql, f"a Grafana macro or variable the test does not know: {sql}"
    return sql


def test_every_panel_queries_clickhouse_with_raw_sql() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert {v["query"] for v in dashboard["templating"]["list"]} == {PLUGIN}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) == 21
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == PLUGIN, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    for title, target in queries().items():
        assert target["datasource"] == {"type": PLUGIN, "uid": "${datasource}"}, title
        assert target["editorType"] == "sql" and target["rawSql"].strip(), title


def _panel(title_start: str) -> dict[str, Any]:
    dashboard = json.loads(DASHBOARD.read_text())
    [panel] = [p for p in dashboard["panels"] if p["title"].startswith(title_start)]
    return panel


def test_the_headline_leads_with_the_estimate_as_the_report_does() -> None:
    """pipeline.audience.report.headline: "True community N persons", N the estimate; the exact
    count is the part of it counted one by one, never a second headline."""
    headline = _panel("True community (")
    assert headline["gridPos"]["x"] == headline["gridPos"]["y"] == 0
    sql = headline["targets"][0]["rawSql"]
    assert "FROM community_headline" in sql  # sql/0010: round(estimated_persons) AS true_community
    assert headline["options"]["reduceOptions"]["fields"].startswith("/^(true_community|")
    shown = {
        o["matcher"]["options"]: o["properties"][0]["value"]
        for o in headline["fieldConfig"]["overrides"]
    }
    assert shown["true_community"] == "True community"
    assert "counted one by one" in shown["counted_exactly"]
    assert "counted one by one" in headline["description"]
    trend = _panel("True community vs naive reach")["targets"][0]["rawSql"]
    assert "estimated_persons AS `True community`" in trend


def test_the_earned_media_value_is_an_estimate_at_the_default_prices() -> None:
    settings = Settings()
    panel = _panel("Earned media value")
    assert "estimate" in panel["title"] and settings.emv_currency in panel["title"]
    assert panel["fieldConfig"]["defaults"]["unit"] == f"currency{settings.emv_currency}"
    sql = panel["targets"][0]["rawSql"]
    for spec in (settings.emv_cpm, settings.emv_cpc):
        table = prices(spec)
        named = sorted((n, v) for n, v in table.items() if n != "*")
        assert (
            f"transform(scope, [{', '.join(repr(n) for n, _ in named)}], "
            f"[{', '.join(repr(float(v)) for _, v in named)}], {float(table['*'])!r})"
        ) in sql, spec
        assert spec in panel["description"]


def _run_all(run: Any) -> None:
    empty, failed = [], []
    for title, target in queries().items():
        try:
            rows = run(expand_macros(target["rawSql"]))
        except Exception as exc:  # report every broken query at once
            failed.append(f"{title}: {str(exc).strip().splitlines()[0]}")
            continue
        if not rows:
            empty.append(title)
    assert not failed, "\n".join(failed)
    assert not empty, f"no rows from: {', '.join(empty)}"


@pytest.mark.clickhouse
def test_the_panels_run_on_the_local_server(clickhouse: Client) -> None:
    migrate(clickhouse)
    insert_records(clickhouse, company_records())
    _run_all(clickhouse.execute)


@pytest.fixture
def chdb_engine() -> Iterator[ChdbEngine]:
    engine = ChdbEngine(f"test_grafana_{free_port()}")
    try:
        yield engine
    finally:
        engine.close()


def test_the_panels_run_on_current_clickhouse(chdb_engine: ChdbEngine) -> None:
    warehouse.Migrator(chdb_engine.run, warehouse.load_migrations()).migrate()
    chdb_engine.insert(company_records())
    _run_all(chdb_engine.run)
