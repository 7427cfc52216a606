"""The connection to ClickHouse, and the databases Chorus, its tests and its benchmarks use."""

from __future__ import annotations

from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from pipeline.settings import Settings

# What a failed insert raises when ClickHouse is down, restarting or unreachable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ClickHouseError, OSError, EOFError)


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
