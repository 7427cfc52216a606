"""ClickHouse for Chorus: the connection, the migrations in sql/, and the columns of every record.

Migrations are plain numbered SQL files (`sql/0001_event_tables.sql`), frozen
once released: the database you get never depends on when you installed. The
runner records each applied file with its sha256 in `schema_migrations` and
refuses to go on when an applied file has changed since. The files name no
database: the runner runs them with Chorus's database as the default one, so
the same files build `chorus`, a test database or a tenant's.

The runner talks to ClickHouse through one function, `Execute` (SQL in, rows
out), so the same migrations are applied by clickhouse-driver to the local
18.16 server and, in the tests, by chdb to current ClickHouse.

`TABLES` maps each record type (schemas/) to its table and turns a batch of
records, or a message's columns (`schemas.columnar`), into the table's columns,
which clickhouse-driver inserts without transposing.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from pipeline.settings import PROJECT_ROOT, Settings
from schemas.dead_letter import DeadLetter
from schemas.events import AccountStats, Employee, Engagement, Follow, IdentityLink, Post
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, MetricRow, ScopeMetrics
from schemas.slipups import Alert, AlertDelivery, SlipUp

SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_TABLE = "schema_migrations"
MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

# What a failed insert raises when ClickHouse is down, restarting or unreachable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ClickHouseError, OSError, EOFError)

Execute = Callable[[str], list[tuple[Any, ...]]]


def client(settings: Settings, *, database: str | None = None, **options: Any) -> Client:
    """A client on Chorus's database. It connects on first use, so building one never fails."""
    return Client(
        settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password,
        database=settings.clickhouse_database if database is None else database,
        secure=settings.clickhouse_secure,
        **options,
    )


def create_database(settings: Settings) -> None:
    """Create Chorus's database if missing (a client cannot open a database that does not exist)."""
    _on_server(settings, f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_database}")


def drop_database(settings: Settings) -> None:
    """Drop the database of `settings`, for the scratch databases of benchmarks and tests."""
    _on_server(settings, f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")


def _on_server(settings: Settings, statement: str) -> None:
    admin = client(settings, database="default")
    try:
        admin.execute(statement)
    finally:
        admin.disconnect()


# Migrations -----------------------------------------------------------------


def split_statements(sql: str) -> list[str]:
    """The statements of a SQL file, split on `;` outside strings, quoted names and comments.

    Comment-only pieces are dropped; comments inside a statement are kept.
    """
    statements: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"`":
            i += 1
            while i < n and sql[i] != char:
                i += 2 if sql[i] == "\\" else 1
        elif sql.startswith("--", i):
            i = sql.find("\n", i)
            i = n if i < 0 else i
        elif sql.startswith("/*", i):
            i = sql.find("*/", i + 2)
            i = n if i < 0 else i + 1
        elif char == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _strip_comments(s).strip()]


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.DOTALL)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str  # sha256 of the file's bytes

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @classmethod
    def from_file(cls, path: Path) -> Migration:
        match = MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        data = path.read_bytes()
        return cls(
            version=int(match["version"]),
            name=match["name"],
            sql=data.decode(),
            checksum=hashlib.sha256(data).hexdigest(),
        )


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    """The migrations in `directory`, in version order; two files with one version are refused."""
    migrations = sorted(
        (Migration.from_file(path) for path in directory.glob("[0-9]*.sql")),
        key=lambda m: m.version,
    )
    for before, after in itertools.pairwise(migrations):
        if before.version == after.version:
            raise MigrationError(f"{before.label} and {after.label} share version {after.version}")
    return migrations


class MigrationError(RuntimeError):
    """The migrations cannot be applied; the message says why and what to do."""


@dataclass(frozen=True)
class MigrationState:
    """One line of `chorus db status`."""

    version: int
    name: str
    state: str  # applied, pending, changed (file edited after it was applied), missing (file gone)
    applied_at: str | None  # UTC, e.g. 2026-01-31 12:00:00


class Migrator:
    """Applies the pending migrations in order and records each in `schema_migrations`."""

    def __init__(self, execute: Execute, migrations: Sequence[Migration]) -> None:
        self.execute = execute
        self.migrations = list(migrations)

    def applied(self) -> dict[int, tuple[str, str, str]]:
        """version -> (name, checksum, applied_at in UTC) of every applied migration."""
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            "version UInt32, name String, checksum String, applied_at DateTime('UTC')"
            ") ENGINE = MergeTree() ORDER BY version"
        )
        rows = self.execute(
            f"SELECT version, name, checksum, toString(applied_at) FROM {MIGRATIONS_TABLE} "
            "ORDER BY version"
        )
        return {int(version): (name, checksum, at) for version, name, checksum, at in rows}

    def status(self) -> list[MigrationState]:
        applied = self.applied()
        states = []
        for migration in self.migrations:
            record = applied.pop(migration.version, None)
            if record is None:
                states.append(MigrationState(migration.version, migration.name, "pending", None))
            else:
                state = "applied" if record[1] == migration.checksum else "changed"
                states.append(MigrationState(migration.version, migration.name, state, record[2]))
        states.extend(
            MigrationState(version, name, "missing", at)
            for version, (name, _, at) in applied.items()
        )
        return sorted(states, key=lambda s: s.version)

    def migrate(self, say: Callable[[str], None] = lambda _: None) -> list[Migration]:
        """Apply what is pending, in order; refuse if an applied file changed or went missing."""
        states = {s.version: s for s in self.status()}
        broken = [s for s in states.values() if s.state in ("changed", "missing")]
        if broken:
            details = "; ".join(f"{s.version:04d}_{s.name} is {s.state}" for s in broken)
            raise MigrationError(
                f"applied migrations differ from sql/: {details}. Released migrations are "
                "frozen: restore the file and put the change in a new numbered migration."
            )
        done = []
        for migration in self.migrations:
            if states[migration.version].state == "applied":
                continue
            for statement in split_statements(migration.sql):
                self.execute(statement)
            applied_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            # INSERT ... SELECT: an INSERT with inline VALUES hangs clickhouse-driver on 18.16.
            self.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, applied_at) SELECT "
                f"{migration.version}, '{migration.name}', '{migration.checksum}', "
                f"toDateTime('{applied_at}', 'UTC')"
            )
            say(f"applied {migration.label}")
            done.append(migration)
        return done


def migrator(settings: Settings, directory: Path = SQL_DIR) -> Migrator:
    """A migrator on the server of `settings`, its database created if missing."""
    create_database(settings)
    return Migrator(client(settings).execute, load_migrations(directory))


# The columns of each record type ----------------------------------------------

Block = list[list[Any]]  # records as columns, as clickhouse-driver inserts them


@dataclass(frozen=True)
class Column:
    """A table column: a record field's values, as they are or converted for ClickHouse.

    Defined on a field's values rather than on records, so that the sink can
    build it from a message's columns (`schemas.columnar`) as well as from records.
    """

    field: str
    convert: Callable[[list[Any]], list[Any]] | None = None

    def of_values(self, values: list[Any]) -> list[Any]:
        return values if self.convert is None else self.convert(values)


def _unix_seconds(moments: list[datetime]) -> list[int]:
    """Datetimes as Unix seconds: clickhouse-driver sends ints as they are, datetimes it converts slowly.

    Converting costs more than comparing, and a record mostly shares its time
    with the one before it in a batch: then that one's seconds are reused.
    """
    seconds: list[int] = []
    previous: datetime | None = None
    value = 0
    for moment in moments:
        if moment != previous:
            previous, value = moment, int(moment.timestamp())
        seconds.append(value)
    return seconds


def _or_empty(name: str) -> Column:
    return Column(name, lambda values: [value or "" for value in values])


def _each(name: str, part: Callable[[Any], Any]) -> Column:
    return Column(name, lambda values: [[part(item) for item in value] for value in values])


@dataclass(frozen=True)
class Table:
    """A ClickHouse table and how a batch of records, or of a message's columns, becomes its columns."""

    name: str
    columns: dict[str, Column]

    @property
    def insert_sql(self) -> str:
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES"

    def to_columns(self, records: Sequence[Any]) -> Block:
        return [
            column.of_values(list(map(attrgetter(column.field), records)))
            for column in self.columns.values()
        ]

    def from_columns(self, columns: Any) -> Block:
        """The table's columns from a message's (`schemas.columnar.columns_type`)."""
        return [
            column.of_values(getattr(columns, column.field)) for column in self.columns.values()
        ]


def _table(name: str, *plain: str, **derived: Column) -> Table:
    """A table whose columns are the record's fields of the same names, then the derived ones."""
    columns: dict[str, Column] = {}
    for field in plain:
        columns[field] = Column(field, _unix_seconds if field in _TIMES else None)
    columns.update(derived)
    return Table(name, columns)


_TIMES = {
    "occurred_at",
    "flagged_at",
    "window_start",
    "window_end",
    "opened_at",
    "taken_at",
    "failed_at",
    "finished_at",
}
_SNAPSHOT = ("snapshot_id", "taken_at")

TABLES: dict[type, Table] = {
    Employee: _table(
        "employees",
        *("event_id", "occurred_at", "employee_id", "department", "region", "active"),
        account_networks=_each("accounts", attrgetter("network")),
        account_ids=_each("accounts", attrgetter("account_id")),
        account_pseudonyms=_each("accounts", attrgetter("pseudonym")),
    ),
    Post: _table(
        "posts",
        *("event_id", "occurred_at", "post_id", "employee_id", "network", "account_id", "text"),
        lang=_or_empty("lang"),
        url=_or_empty("url"),
        campaign_id=_or_empty("campaign_id"),
    ),
    Follow: _table(
        "follows", "event_id", "occurred_at", "network", "account_id", "follower_id", "action"
    ),
    IdentityLink: _table(
        "identity_links",
        *("event_id", "occurred_at", "network_a", "account_a", "network_b", "account_b"),
        *("evidence", "confidence"),
    ),
    Engagement: _table(
        "engagements", "event_id", "occurred_at", "post_id", "network", "actor_id", "kind"
    ),
    AccountStats: _table(
        "account_stats",
        *("event_id", "occurred_at", "network", "account_id", "followers_count"),
        has_sample=Column("follower_sample", lambda samples: [s is not None for s in samples]),
        follower_sample=Column("follower_sample", lambda samples: [s or [] for s in samples]),
    ),
    SlipUp: _table(
        "slipups",
        *("slipup_id", "post_id", "event_id", "occurred_at", "flagged_at", "employee_id"),
        *("department", "region", "network", "rule", "category", "severity", "excerpt", "hint"),
    ),
    Alert: _table(
        "alerts",
        *("alert_id", "incident_id", "status", "scope_kind", "scope", "window_start"),
        *("window_end", "count", "baseline", "p_value", "opened_at", "summary"),
    ),
    ScopeMetrics: _table(
        "community_scopes",
        *_SNAPSHOT,
        *("scope_kind", "scope", "employees", "naive_reach", "distinct_accounts"),
        *("distinct_persons", "estimated_persons", "ci_low", "ci_high"),
    ),
    EmployeeReach: _table(
        "employee_reach",
        *_SNAPSHOT,
        *("employee_id", "department", "region", "naive_followers", "followers"),
        *("exclusive_followers", "cluster"),
        overlap_employee_ids=_each("top_overlaps", lambda pair: pair[0]),
        overlap_persons=_each("top_overlaps", lambda pair: pair[1]),
    ),
    CoveragePoint: _table(
        "coverage_curve",
        *_SNAPSHOT,
        *("rank", "employee_id", "new_persons", "cumulative_persons", "cumulative_share"),
    ),
    CampaignReach: _table(
        "campaign_reach",
        *_SNAPSHOT,
        *("campaign_id", "relaying_employees", "posts", "naive_reach", "distinct_persons"),
    ),
    AlertDelivery: _table(
        "alert_deliveries",
        *("alert_id", "url", "ok", "attempts", "error", "finished_at"),
        status=Column("status", lambda statuses: [status or 0 for status in statuses]),
    ),
    DeadLetter: _table(
        "dead_letters", "topic", "partition", "offset", "raw", "reason", "message", "failed_at"
    ),
}


def insert(client: Client, table: Table, records: Sequence[Any]) -> None:
    """One columnar INSERT of `records` into `table` (blocking: run it in a thread)."""
    insert_columns(client, table, table.to_columns(records))


def insert_columns(client: Client, table: Table, columns: Block) -> None:
    """One INSERT of columns built by `table.to_columns` (blocking: run it in a thread).

    clickhouse-driver works on copies of the columns, so a failed insert can be
    retried with the same ones.
    """
    client.execute(table.insert_sql, columns, columnar=True, settings={"insert_deduplicate": 1})


# Reading a snapshot back ------------------------------------------------------

_SNAPSHOT_KINDS: tuple[type, ...] = (ScopeMetrics, EmployeeReach, CoveragePoint, CampaignReach)


def latest_snapshot_rows(client: Client) -> list[MetricRow]:
    """Every row of the latest audience snapshot, as the records the engine made.

    A snapshot the sink is still writing may lack its employee rows; then the
    one before it is returned.
    """
    ids = client.execute(
        "SELECT snapshot_id FROM community_scopes WHERE scope_kind = 'company' "
        "GROUP BY snapshot_id ORDER BY max(taken_at) DESC, snapshot_id DESC LIMIT 2"
    )
    for (snapshot_id,) in ids:
        rows = _snapshot_rows(client, snapshot_id)
        if any(isinstance(row, EmployeeReach) for row in rows):
            return rows
    return []


def _snapshot_rows(client: Client, snapshot_id: str) -> list[MetricRow]:
    rows: list[MetricRow] = []
    for kind in _SNAPSHOT_KINDS:
        table = TABLES[kind]
        names = [
            name
            for name in table.columns
            if name not in ("overlap_employee_ids", "overlap_persons")
        ]
        extra = ", overlap_employee_ids, overlap_persons" if kind is EmployeeReach else ""
        result = client.execute(
            f"SELECT DISTINCT {', '.join(names)}{extra} FROM {table.name} WHERE snapshot_id = %(id)s",
            {"id": snapshot_id},
        )
        for values in result:
            fields = dict(zip(names, values, strict=False))
            fields["taken_at"] = fields["taken_at"].replace(tzinfo=UTC)
            if kind is EmployeeReach:
                fields["top_overlaps"] = list(zip(values[-2], values[-1], strict=True))
            rows.append(kind(**fields))
    return rows
