"""The compliance archive: flags and their review trail exported (CSV or Parquet), and purged after retention.

Two files, so each keeps its own columns: `flags.*` (every flag with the post's
text and its current status) and `review_actions.*` (every action on those
flags, refused ones included, oldest first). Parquet keeps the types
(timestamps in UTC); CSV is for whoever opens it in a spreadsheet.

Retention (`CHORUS_REVIEW_RETENTION_DAYS`, 3 years by default: the minimum
SEC rule 17a-4 asks of broker-dealers) is enforced by `purge`, which a daily
job runs (`chorus review purge`): ClickHouse 18.16 has no TTL, and a mutation
(ALTER … DELETE) runs on both engines.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

Run = Callable[[str], list[tuple[Any, ...]]]

FLAG_COLUMNS = (
    "slipup_id", "post_id", "occurred_at", "flagged_at", "employee_id", "department", "region",
    "network", "rule", "category", "severity", "excerpt", "hint", "status", "reason", "reviewer",
    "version",
)  # fmt: skip
ACTION_COLUMNS = (
    "action_id", "flag_id", "flag_kind", "post_id", "employee_id", "rule", "category", "action",
    "outcome", "status", "version", "reason", "note", "refused_because", "reviewer", "occurred_at",
)  # fmt: skip


def export_trail(run: Run, since: date, fmt: str, out: Path) -> Iterator[tuple[Path, int]]:
    """Write both files into `out`; yields each path and its row count."""
    start = f"toDateTime('{since:%Y-%m-%d} 00:00:00', 'UTC')"
    flags = run(
        f"SELECT {', '.join(FLAG_COLUMNS[:10])}, toString(severity), excerpt, hint, "
        "if(status = '', 'open', status), reason, reviewer, version "
        f"FROM (SELECT slipup_id AS flag_id, * FROM slipups FINAL WHERE occurred_at >= {start}) "
        "AS f ANY LEFT JOIN (SELECT flag_id, status, reason, reviewer, version FROM review_status) "
        "AS r USING flag_id ORDER BY occurred_at, slipup_id"
    )
    actions = run(
        "SELECT action_id, flag_id, toString(flag_kind), post_id, employee_id, rule, category, "
        "toString(action), toString(outcome), toString(status), version, reason, note, "
        "refused_because, reviewer, occurred_at FROM review_actions FINAL "
        f"WHERE occurred_at >= {start} ORDER BY occurred_at, flag_id, version"
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, columns, rows in (
        ("flags", FLAG_COLUMNS, flags),
        ("review_actions", ACTION_COLUMNS, actions),
    ):
        path = out / f"{name}.{fmt}"
        (_parquet if fmt == "parquet" else _csv)(path, columns, rows)
        yield path, len(rows)


def _csv(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)


def _parquet(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    pq.write_table(table, path)


PURGED_TABLES = ("slipups", "review_actions")


def purge(run: Run, retention_days: int, dry_run: bool = False) -> dict[str, int]:
    """Delete flags and review actions older than the retention; how many rows each table loses."""
    if retention_days < 1:
        raise ValueError(f"a retention of {retention_days} days would delete everything")
    old = f"occurred_at < now() - INTERVAL {int(retention_days)} DAY"
    counts = {
        table: int(run(f"SELECT count() FROM {table} WHERE {old}")[0][0]) for table in PURGED_TABLES
    }
    if not dry_run:
        for table, rows in counts.items():
            if rows:
                run(f"ALTER TABLE {table} DELETE WHERE {old}")
    return counts
