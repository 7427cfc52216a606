"""The migrations in sql/ and the runner that applies them.

Migrations are plain numbered SQL files (`sql/0001_event_tables.sql`), frozen
once released: the database you get never depends on when you installed. The
runner records each applied file with its sha256 in `schema_migrations` and
refuses to go on when an applied file has changed since. The files name no
database: the runner runs them with Chorus's database as the default one, so
the same files build `chorus`, a test database or a tenant's.

The runner talks to ClickHouse through one function, `Execute` (SQL in, rows
out), so the same migrations are applied by clickhouse-driver to the local
18.16 server and, in the tests, by chdb to current ClickHouse.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.warehouse.connection import client, create_database

SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_TABLE = "schema_migrations"
MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

Execute = Callable[[str], list[tuple[Any, ...]]]


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
