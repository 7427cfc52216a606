"""ClickHouse for Chorus, one module per concern so each can be read and changed alone.

- `connection`: the connection, and creating or dropping a database.
- `migrations`: the numbered files of sql/ and the runner that applies them.
- `tables`: the table of every record type and the INSERT that writes a batch.
- `reads`: every SELECT that reads Chorus's data back.

The names below are the ones code outside the package uses.
"""

from pipeline.warehouse.connection import TRANSIENT_ERRORS, Client, client, drop_database
from pipeline.warehouse.migrations import (
    SQL_DIR,
    MigrationError,
    Migrator,
    load_migrations,
    migrator,
    split_statements,
)
from pipeline.warehouse.reads import latest_snapshot_rows
from pipeline.warehouse.tables import TABLES, Block, Table, insert_columns

__all__ = [
    "SQL_DIR",
    "TABLES",
    "TRANSIENT_ERRORS",
    "Block",
    "Client",
    "MigrationError",
    "Migrator",
    "Table",
    "client",
    "drop_database",
    "insert_columns",
    "latest_snapshot_rows",
    "load_migrations",
    "migrator",
    "split_statements",
]
