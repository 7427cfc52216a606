"""The compliance archive: flags since a date and their whole review trail, as CSV or Parquet.

Two files, so each keeps its own columns: `flags.*` (every flag with the post's
text and its current status) and `review_actions.*` (every action on those
flags, refused ones included, oldest first). Parquet keeps the types
(timestamps in UTC); CSV is for whoever opens it in a spreadsheet.
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
        "ANY LEFT JOIN (SELECT flag_id, status, reason, reviewer, version FROM review_status) "
        "USING flag_id ORDER BY occurred_at, slipup_id"
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
