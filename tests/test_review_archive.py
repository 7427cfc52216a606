"""The compliance archive and retention, on current ClickHouse (chdb) and the 18.16 server."""

from __future__ import annotations

import csv
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from pipeline import warehouse
from pipeline.warehouse.review_archive import ACTION_COLUMNS, FLAG_COLUMNS, export_trail, purge
from schemas.review import ReviewAction
from schemas.slipups import SlipUp
from tests.test_warehouse import Engine, chdb_engine, engine  # noqa: F401 - the fixtures

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=1200)  # past the 3 years' retention
RECENT = NOW - timedelta(days=3)


def _flag(post: str, at: datetime) -> SlipUp:
    return SlipUp(
        slipup_id=f"s-{post}",
        post_id=post,
        event_id=f"e-{post}",
        occurred_at=at,
        flagged_at=at,
        employee_id="emp-1",
        department="sales",
        region="emea",
        network="x",
        rule="profanity_insult/idiot*",
        category="profanity_insult",
        severity="medium",
        excerpt="you idiot",
        hint="Stay courteous.",
    )


def _action(post: str, at: datetime, version: int, action: str, status: str) -> ReviewAction:
    return ReviewAction(
        action_id=f"a-{post}-{version}",
        flag_id=f"s-{post}",
        flag_kind="flag",
        post_id=post,
        employee_id="emp-1",
        rule="profanity_insult/idiot*",
        category="profanity_insult",
        action=action,  # type: ignore[arg-type]
        outcome="applied",
        status=status,  # type: ignore[arg-type]
        version=version,
        reason="false_positive" if action == "dismiss" else "",
        note="a quote, not an insult" if action == "dismiss" else "",
        refused_because="",
        reviewer="ana",
        occurred_at=at + timedelta(hours=1),
    )


def _stored(engine: Engine) -> Engine:  # noqa: F811 - the fixture of that name
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    records = [
        _flag("old", OLD),
        _flag("new", RECENT),
        _action("old", OLD, 1, "claim", "claimed"),
        _action("new", RECENT, 1, "claim", "claimed"),
        _action("new", RECENT, 2, "dismiss", "dismissed"),
    ]
    engine.insert(records)
    engine.insert(records)  # a replay: exported once
    return engine


def test_the_export_holds_each_flag_and_action_once_in_csv_and_parquet(
    engine: Engine,  # noqa: F811 - the fixture of that name
    tmp_path: Path,
) -> None:
    run = _stored(engine).run
    since = (RECENT - timedelta(days=1)).date()
    written = dict(export_trail(run, since, "csv", tmp_path / "csv"))
    assert written == {
        tmp_path / "csv" / "flags.csv": 1,
        tmp_path / "csv" / "review_actions.csv": 2,
    }
    with (tmp_path / "csv" / "flags.csv").open() as flags:
        [row] = list(csv.DictReader(flags))
    assert tuple(row) == FLAG_COLUMNS
    assert (row["slipup_id"], row["status"], row["reason"], row["version"]) == (
        "s-new",
        "dismissed",
        "false_positive",
        "2",
    )
    dict(export_trail(run, date(2000, 1, 1), "parquet", tmp_path / "pq"))
    actions = pq.read_table(tmp_path / "pq" / "review_actions.parquet")
    assert tuple(actions.column_names) == ACTION_COLUMNS and actions.num_rows == 3
    assert pq.read_table(tmp_path / "pq" / "flags.parquet").num_rows == 2


def test_purge_deletes_only_what_is_past_the_retention(engine: Engine) -> None:  # noqa: F811
    run = _stored(engine).run
    assert purge(run, 1096, dry_run=True) == {
        "slipups": 2,
        "review_actions": 2,
    }  # a replayed row each
    assert run("SELECT count() FROM slipups")[0][0] in (4, "4")  # nothing gone yet
    purge(run, 1096)
    deadline = time.monotonic() + 30
    while int(run("SELECT count() FROM slipups")[0][0]) > 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # a mutation runs in the background
    assert [r[0] for r in run("SELECT DISTINCT slipup_id FROM slipups")] == ["s-new"]
    assert {r[0] for r in run("SELECT DISTINCT flag_id FROM review_actions")} == {"s-new"}
