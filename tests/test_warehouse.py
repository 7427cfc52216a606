"""The sql/ migrations and analyst queries on both engines, the snapshot of the schema, the analyst user.

Current ClickHouse runs in-process (chdb), so those tests are unit tests; the
local 18.16 server needs `@pytest.mark.clickhouse`. The same records are
inserted twice on each engine (a replay) and every view must still count once.

Regenerate the schema snapshots after a deliberate schema change with
`CHORUS_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/test_warehouse.py -k snapshot -m clickhouse`
and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from pipeline import warehouse
from pipeline.cli.main import cli
from pipeline.settings import Settings
from schemas.dead_letter import DeadLetter
from schemas.events import (
    AccountStats,
    Employee,
    EmployeeAccount,
    Engagement,
    Follow,
    IdentityLink,
    Post,
)
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, ScopeMetrics
from schemas.slipups import Alert, SlipUp

TESTS = Path(__file__).parent
QUERIES = sorted((warehouse.SQL_DIR / "queries").glob("*.sql"))
SNAPSHOTS = {"server": TESTS / "schema_snapshot.sql", "chdb": TESTS / "schema_snapshot_chdb.sql"}
UPDATE_SNAPSHOT = os.environ.get("CHORUS_UPDATE_SNAPSHOT") == "1"


# The two engines ---------------------------------------------------------------


class Engine(Protocol):
    database: str

    def run(self, sql: str) -> list[tuple[Any, ...]]: ...

    def insert(self, records: Sequence[Any]) -> None: ...


class ChdbEngine:
    """Current ClickHouse in-process; rows come back as JSON values."""

    def __init__(self, database: str) -> None:
        from chdb import session

        self.database = database
        self.session = session.Session()
        self.session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.session.query(f"USE {database}")

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        out = self.session.query(sql, "JSONCompact").bytes()
        return [tuple(row) for row in json.loads(out)["data"]] if out.strip() else []

    def insert(self, records: Sequence[Any]) -> None:
        for kind in {type(r) for r in records}:
            table = warehouse.TABLES[kind]
            batch = [r for r in records if type(r) is kind]
            rows = zip(*table.to_columns(batch), strict=True)
            lines = "\n".join(
                json.dumps(dict(zip(table.columns, row, strict=True)), default=_json)
                for row in rows
            )
            self.run(f"{table.insert_sql.removesuffix(' VALUES')} FORMAT JSONEachRow\n{lines}")

    def close(self) -> None:
        self.session.query(f"DROP DATABASE IF EXISTS {self.database}")
        self.session.close()


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(value)


class ServerEngine:
    """The local ClickHouse 18.16 through clickhouse-driver, as the sink writes to it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.database = client.connection.database

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.client.execute(sql)
        return rows

    def insert(self, records: Sequence[Any]) -> None:
        for kind in {type(r) for r in records}:
            table = warehouse.TABLES[kind]
            batch = [r for r in records if type(r) is kind]
            warehouse.insert_columns(self.client, table, table.to_columns(batch))


def _database() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def chdb_engine() -> Iterator[ChdbEngine]:
    engine = ChdbEngine(_database())
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.clickhouse)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each test twice: on current ClickHouse (chdb) and on the local 18.16 server."""
    if request.param == "chdb":
        chdb: Engine = request.getfixturevalue("chdb_engine")
        return chdb
    return ServerEngine(request.getfixturevalue("clickhouse"))


# Statement splitting ------------------------------------------------------------


def test_split_statements_ignores_semicolons_in_strings_names_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE a (x String DEFAULT 'a;b') ENGINE = Memory;
    /* block; comment */
    SELECT `odd;name`, "q;", 'it\\'s;' FROM a;

    -- trailing comment only;
    """
    assert warehouse.split_statements(sql) == [
        "-- a comment; with a semicolon\n    CREATE TABLE a (x String DEFAULT 'a;b') ENGINE = Memory",
        "/* block; comment */\n    SELECT `odd;name`, \"q;\", 'it\\'s;' FROM a",
    ]


def test_migration_files_are_numbered_and_name_no_database() -> None:
    migrations = warehouse.load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        code = re.sub(r"--[^\n]*", "", migration.sql)
        assert not re.search(r"\bchorus\.", code), migration.label


# Migrations on both engines --------------------------------------------------------


def test_migrate_applies_everything_once(engine: Engine) -> None:
    migrator = warehouse.Migrator(engine.run, warehouse.load_migrations())
    assert {s.state for s in migrator.status()} == {"pending"}
    applied = migrator.migrate()
    assert [m.version for m in applied] == [m.version for m in migrator.migrations]
    assert {s.state for s in migrator.status()} == {"applied"}
    assert migrator.migrate() == []
    rows = engine.run("SELECT count(), uniqExact(checksum) FROM schema_migrations")
    assert [tuple(map(int, row)) for row in rows] == [(len(applied), len(applied))]


def test_migrate_refuses_an_applied_migration_whose_file_changed(
    chdb_engine: ChdbEngine, tmp_path: Path
) -> None:
    for path in warehouse.SQL_DIR.glob("0*.sql"):
        shutil.copy(path, tmp_path / path.name)
    warehouse.Migrator(chdb_engine.run, warehouse.load_migrations(tmp_path)).migrate()
    first = sorted(tmp_path.glob("0*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    migrator = warehouse.Migrator(chdb_engine.run, warehouse.load_migrations(tmp_path))
    assert migrator.status()[0].state == "changed"
    with pytest.raises(warehouse.MigrationError, match=r"0001_\w+ is changed"):
        migrator.migrate()


def test_a_new_migration_is_pending_then_applied(chdb_engine: ChdbEngine, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x UInt8) ENGINE = Memory;\n")
    warehouse.Migrator(chdb_engine.run, warehouse.load_migrations(tmp_path)).migrate()
    (tmp_path / "0002_second.sql").write_text(
        "CREATE TABLE b (x UInt8) ENGINE = Memory;\nCREATE TABLE c (x UInt8) ENGINE = Memory;\n"
    )
    migrator = warehouse.Migrator(chdb_engine.run, warehouse.load_migrations(tmp_path))
    assert [s.state for s in migrator.status()] == ["applied", "pending"]
    assert [m.label for m in migrator.migrate()] == ["0002_second"]
    assert chdb_engine.run("EXISTS TABLE c") == [(1,)]


# Every record type, replayed: the views count once ------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
T1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def sample_records() -> list[Any]:
    """A little of everything: two roster versions, posts, engagements, snapshots, a dead letter."""
    accounts = [EmployeeAccount("x", "@ada", "p" + "a" * 32)]
    records: list[Any] = [
        Employee(event_id="e1", occurred_at=T0, employee_id="ada", department="sales",
                 region="eu", active=True, accounts=accounts),
        Employee(event_id="e2", occurred_at=T1, employee_id="ada", department="legal",
                 region="eu", active=True, accounts=accounts),
        Employee(event_id="e3", occurred_at=T0, employee_id="bob", department="sales",
                 region="us", active=True),
    ]  # fmt: skip
    for i in range(6):
        author = "ada" if i < 4 else "bob"
        records.append(
            Post(event_id=f"post-ev{i}", occurred_at=T1, post_id=f"post{i}", employee_id=author,
                 network="x", account_id="@" + author, text="hello", campaign_id="launch" if i == 0 else None)
        )  # fmt: skip
    for i, kind in enumerate(["like", "like", "share", "comment", "click"]):
        records.append(
            Engagement(event_id=f"eng{i}", occurred_at=T1, post_id="post0", network="x",
                       actor_id=f"p{i % 3}", kind=kind)  # type: ignore[arg-type]
        )  # fmt: skip
    records += [
        Follow(event_id="f1", occurred_at=T0, network="x", account_id="@ada", follower_id="p1",
               action="follow"),
        IdentityLink(event_id="i1", occurred_at=T0, network_a="x", account_a="p1",
                     network_b="mastodon", account_b="p9", evidence="same handle", confidence=0.9),
        AccountStats(event_id="s1", occurred_at=T0, network="linkedin", account_id="ada",
                     followers_count=120, follower_sample=["p1", "p2"]),
        AccountStats(event_id="s2", occurred_at=T0, network="linkedin", account_id="bob",
                     followers_count=80),
        SlipUp(slipup_id="su1", post_id="post1", event_id="post-ev1", occurred_at=T1, flagged_at=T1,
               employee_id="ada", department="legal", region="eu", network="x", rule="leak.revenue",
               category="leak", severity="high", excerpt="q3 revenue", hint="don't"),
        SlipUp(slipup_id="su2", post_id="post1", event_id="post-ev1", occurred_at=T1, flagged_at=T1,
               employee_id="ada", department="legal", region="eu", network="x", rule="tone.insult",
               category="insult", severity="medium", excerpt="idiots", hint="be kind"),
        Alert(alert_id="inc1:firing", incident_id="inc1", status="firing", scope_kind="department",
              scope="legal", scopes=("department:legal", "company:all"), window_start=T0,
              window_end=T1, count=2, baseline=0.1, p_value=0.001, opened_at=T0,
              summary="slip-ups spike in legal"),
        DeadLetter(topic="chorus.raw", partition=0, offset=7, raw=b"\xff{not json", size=10,
                   digest="d1", reason="not_json", message="bad", failed_at=T1),
    ]  # fmt: skip
    for snapshot, taken_at, persons in (("snap-a", T0, 100), ("snap-b", T1, 150)):
        records += [
            ScopeMetrics(snapshot_id=snapshot, taken_at=taken_at, scope_kind="company", scope="",
                         employees=2, naive_reach=400, distinct_accounts=persons + 20,
                         distinct_persons=persons, estimated_persons=persons + 5.5,
                         ci_low=persons - 1.0, ci_high=persons + 9.0),
            EmployeeReach(snapshot_id=snapshot, taken_at=taken_at, employee_id="ada",
                          department="legal", region="eu", naive_followers=300, followers=persons - 30,
                          exclusive_followers=persons - 60, cluster=0, top_overlaps=[("bob", 30)]),
            EmployeeReach(snapshot_id=snapshot, taken_at=taken_at, employee_id="bob",
                          department="sales", region="us", naive_followers=100, followers=60,
                          exclusive_followers=30, cluster=-1, top_overlaps=[]),
            CoveragePoint(snapshot_id=snapshot, taken_at=taken_at, rank=1, employee_id="ada",
                          new_persons=persons - 30, cumulative_persons=persons - 30,
                          cumulative_share=(persons - 30) / persons),
            CoveragePoint(snapshot_id=snapshot, taken_at=taken_at, rank=2, employee_id="bob",
                          new_persons=30, cumulative_persons=persons, cumulative_share=1.0),
            CampaignReach(snapshot_id=snapshot, taken_at=taken_at, campaign_id="launch",
                          relaying_employees=1, posts=1, naive_reach=300, distinct_persons=persons - 30),
        ]  # fmt: skip
    return records


# (query, expected rows) that hold however often the sample was inserted.
EXACT_VIEWS: list[tuple[str, list[tuple[Any, ...]]]] = [
    (
        "SELECT employee_id, department FROM employees_current ORDER BY employee_id",
        [("ada", "legal"), ("bob", "sales")],
    ),
    (
        "SELECT toString(scope_kind), snapshot_id, toUInt64(distinct_persons), toUInt64(naive_reach)"
        " FROM community_latest",
        [("company", "snap-b", 150, 400)],
    ),
    (
        "SELECT employee_id, toUInt64(exclusive_followers) FROM employee_reach_latest"
        " ORDER BY employee_id",
        [("ada", 90), ("bob", 30)],
    ),
    ("SELECT toUInt64(count()), toUInt64(max(rank)) FROM coverage_latest", [(2, 2)]),
    ("SELECT campaign_id, snapshot_id FROM campaign_reach_latest", [("launch", "snap-b")]),
    (
        "SELECT post_id, toUInt64(likes), toUInt64(engagements), toUInt64(actors)"
        " FROM engagement_per_post WHERE post_id IN ('post0', 'post5') ORDER BY post_id",
        [("post0", 2, 5, 3), ("post5", 0, 0, 0)],
    ),
    (
        "SELECT employee_id, department, toUInt64(posts), toUInt64(engagements)"
        " FROM daily_activity ORDER BY employee_id",
        [("ada", "legal", 4, 5), ("bob", "sales", 2, 0)],
    ),
    (
        "SELECT department, toUInt64(posting_employees), toUInt64(posts)"
        " FROM daily_department_activity ORDER BY department",
        [("legal", 1, 4), ("sales", 1, 2)],
    ),
    (
        "SELECT department, category, toUInt64(slipups) FROM hourly_slipups"
        " ORDER BY department, category",
        [("legal", "insult", 1), ("legal", "leak", 1)],
    ),
    (
        "SELECT toString(week), department, toUInt64(posts), toUInt64(flagged_posts),"
        " toUInt64(slipups), toString(round(slipup_rate, 2)) FROM slipup_rate_weekly ORDER BY department",
        [("2026-03-02", "legal", 4, 1, 2, "0.25"), ("2026-03-02", "sales", 2, 0, 0, 0)],
    ),
    (
        "SELECT incident_id, arrayStringConcat(scopes, ',') FROM alerts FINAL",
        [("inc1", "department:legal,company:all")],
    ),
    (
        "SELECT topic, reason, toUInt64(count()) FROM dead_letters FINAL GROUP BY topic, reason",
        [("chorus.raw", "not_json", 1)],
    ),
]


def _normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(int(v) if isinstance(v, str) and v.isdigit() else v for v in r) for r in rows]


def test_views_count_every_record_once_even_when_inserted_twice(engine: Engine) -> None:
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    records = sample_records()
    for _ in range(2):  # the second time is a replay
        engine.insert(records)
        for query, expected in EXACT_VIEWS:
            assert _normalise(engine.run(query)) == expected, query
    raw_posts = int(engine.run("SELECT count() FROM posts")[0][0])
    assert 6 <= raw_posts <= 12  # copies stay until merges; the views never count them


def test_employee_department_as_of_a_date(engine: Engine) -> None:
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    engine.insert(sample_records())
    template = (warehouse.SQL_DIR / "queries" / "employee_department_as_of.sql").read_text()
    for moment, expected in (("2026-03-02 09:30:00", "sales"), ("2026-03-02 10:00:00", "legal")):
        sql = template.replace("2026-01-01 00:00:00", moment)
        rows = engine.run(f"SELECT department_then FROM ({sql}) WHERE employee_id = 'ada'")
        assert rows == [(expected,)]


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_every_example_query_runs(engine: Engine, query: Path) -> None:
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    engine.insert(sample_records())
    [statement] = warehouse.split_statements(query.read_text())
    engine.run(statement)  # some look at recent days only: the rows may be none


def test_the_grants_file_parses_on_current_clickhouse(chdb_engine: ChdbEngine) -> None:
    # chdb has no access control to run it in; its parser still checks every statement.
    statements = warehouse.split_statements(
        (warehouse.SQL_DIR / "grants" / "current_clickhouse.sql").read_text()
    )
    assert len(statements) >= 4
    for statement in statements:
        chdb_engine.run(f"EXPLAIN AST {statement}")


# The schema snapshot ---------------------------------------------------------------


def schema(run: Callable[[str], list[tuple[Any, ...]]], database: str) -> str:
    """SHOW CREATE of every table and view of `database`, sorted, the database name neutralised."""
    names = [
        row[0]
        for row in run(
            f"SELECT name FROM system.tables WHERE database = '{database}' ORDER BY name"
        )
    ]
    statements = []
    for name in names:
        [(create,)] = run(f"SHOW CREATE TABLE {database}.{name}")
        create = create.replace(f"{database}.", "").replace("\\n", "\n")
        create = create.replace(
            ",  ", ",\n    "
        )  # 18.16 prints one line; a column per line diffs better
        statements.append(re.sub(r"[ \t]+\n", "\n", create).strip() + ";")
    return "\n\n".join(statements) + "\n"


def check_snapshot(kind: str, actual: str) -> None:
    path = SNAPSHOTS[kind]
    if UPDATE_SNAPSHOT:
        path.write_text(actual)
    assert path.exists(), f"no {path.name}: run with CHORUS_UPDATE_SNAPSHOT=1"
    assert actual == path.read_text(), (
        f"the schema differs from {path.name}; if deliberate, regenerate it with "
        "CHORUS_UPDATE_SNAPSHOT=1 and review the diff"
    )


@pytest.mark.clickhouse
def test_chorus_db_migrate_twice_gives_the_snapshot_schema(
    clickhouse: Client, settings: Settings
) -> None:
    database = clickhouse.connection.database
    env = {"CHORUS_CLICKHOUSE_DATABASE": database}
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "migrate"], env=env)
    assert first.exit_code == 0, first.output
    assert "applied 0001_" in first.output
    after_first = schema(clickhouse.execute, database)
    second = runner.invoke(cli, ["db", "migrate"], env=env)
    assert second.exit_code == 0, second.output
    assert "0 migration(s) applied" in second.output
    assert schema(clickhouse.execute, database) == after_first
    status = runner.invoke(cli, ["db", "status"], env=env)
    assert status.exit_code == 0 and "0 pending" in status.output, status.output
    check_snapshot("server", after_first)


def test_migrate_twice_gives_the_snapshot_schema_on_current_clickhouse(
    chdb_engine: ChdbEngine,
) -> None:
    migrator = warehouse.Migrator(chdb_engine.run, warehouse.load_migrations())
    migrator.migrate()
    after_first = schema(chdb_engine.run, chdb_engine.database)
    migrator.migrate()
    assert schema(chdb_engine.run, chdb_engine.database) == after_first
    check_snapshot("chdb", after_first)


# The read-only analyst (18.16: users.xml) ----------------------------------------------


@pytest.mark.clickhouse
def test_the_analyst_can_select_and_cannot_insert(clickhouse: Client, settings: Settings) -> None:
    warehouse.Migrator(clickhouse.execute, warehouse.load_migrations()).migrate()
    ServerEngine(clickhouse).insert(sample_records())
    analyst = warehouse.client(
        dataclasses.replace(settings, clickhouse_user="analyst", clickhouse_password="analyst"),
        database=clickhouse.connection.database,
    )
    try:
        assert analyst.execute("SELECT count() FROM community_latest") == [(1,)]
        with pytest.raises(ServerException, match="readonly"):
            analyst.execute("INSERT INTO posts (event_id) VALUES", [("intruder",)])
        with pytest.raises(ServerException, match="readonly"):
            analyst.execute("DROP TABLE posts")
    finally:
        analyst.disconnect()
    assert clickhouse.execute("SELECT count() FROM posts WHERE event_id = 'intruder'") == [(0,)]
