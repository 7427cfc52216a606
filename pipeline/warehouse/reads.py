"""Every query that reads Chorus's data back from ClickHouse.

Kept in one module so that what Chorus expects of the tables in sql/ when it
reads them is seen in one place, and a schema change has one file of queries
to check.

The SQL is portable down to ClickHouse 18.16 (no window functions) and runs on
current ClickHouse too. The tables are ReplacingMergeTrees, so replayed rows
are read away with DISTINCT or FINAL (snapshots), with aggregates that copies
do not change (the trend, the incidents) or with aggregated states (the
slip-up roll-up of sql/0004). Rows come back as records with UTC times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from pipeline.warehouse.tables import TABLES
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, MetricRow, ScopeMetrics

# The audience snapshot ------------------------------------------------------------

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


# The company's trend and one snapshot, for the dashboard ---------------------------

COMPANY_SPAN_SQL = """
SELECT toUInt32(min(taken_at)), toUInt32(max(taken_at))
FROM community_scopes
WHERE scope_kind = 'company'
"""

# Replayed copies of a snapshot are identical rows, so argMax needs no FINAL.
COMPANY_TREND_SQL = """
SELECT
    intDiv(toUInt32(taken_at), %(slot_seconds)s) AS slot,
    argMax(snapshot_id, (taken_at, snapshot_id)),
    max(taken_at),
    argMax(employees, (taken_at, snapshot_id)),
    argMax(naive_reach, (taken_at, snapshot_id)),
    argMax(distinct_accounts, (taken_at, snapshot_id)),
    argMax(distinct_persons, (taken_at, snapshot_id)),
    argMax(estimated_persons, (taken_at, snapshot_id)),
    argMax(ci_low, (taken_at, snapshot_id)),
    argMax(ci_high, (taken_at, snapshot_id))
FROM community_scopes
WHERE scope_kind = 'company'
GROUP BY slot
ORDER BY slot
"""

SNAPSHOT_SCOPES_SQL = """
SELECT scope_kind, scope, employees, naive_reach, distinct_accounts, distinct_persons,
       estimated_persons, ci_low, ci_high
FROM community_scopes FINAL
WHERE snapshot_id = %(snapshot)s AND scope_kind != 'company'
ORDER BY scope_kind, scope
"""

SNAPSHOT_EMPLOYEES_SQL = """
SELECT employee_id, department, region, naive_followers, followers, exclusive_followers,
       cluster, overlap_employee_ids, overlap_persons
FROM employee_reach FINAL
WHERE snapshot_id = %(snapshot)s
ORDER BY employee_id
"""

SNAPSHOT_CAMPAIGNS_SQL = """
SELECT campaign_id, relaying_employees, posts, naive_reach, distinct_persons
FROM campaign_reach FINAL
WHERE snapshot_id = %(snapshot)s
ORDER BY campaign_id
"""

SNAPSHOT_COVERAGE_SQL = """
SELECT rank, employee_id, new_persons, cumulative_persons, cumulative_share
FROM coverage_curve FINAL
WHERE snapshot_id = %(snapshot)s
ORDER BY rank
"""


def company_trend(client: Client, points: int) -> list[ScopeMetrics]:
    """The company snapshots, oldest first, the last of each of at most `points` equal slots.

    The slots split the snapshots' time span, so the last one returned is the
    latest snapshot.
    """
    ((first, last),) = client.execute(COMPANY_SPAN_SQL)
    if not last:
        return []
    slot_seconds = max(1, -(-(int(last) - int(first) + 1) // points))
    rows = client.execute(COMPANY_TREND_SQL, {"slot_seconds": slot_seconds})
    return [_scope_metrics(row[1], row[2], "company", "", row[3:]) for row in rows]


def snapshot_scopes(client: Client, company: ScopeMetrics) -> list[ScopeMetrics]:
    """The departments and regions of the snapshot of `company`."""
    return [
        _scope_metrics(company.snapshot_id, company.taken_at, row[0], row[1], row[2:])
        for row in client.execute(SNAPSHOT_SCOPES_SQL, {"snapshot": company.snapshot_id})
    ]


def snapshot_employees(client: Client, company: ScopeMetrics) -> list[EmployeeReach]:
    """The employees of the snapshot of `company`."""
    return [
        EmployeeReach(
            snapshot_id=company.snapshot_id,
            taken_at=company.taken_at,
            employee_id=employee_id,
            department=department,
            region=region,
            naive_followers=int(naive),
            followers=int(followers),
            exclusive_followers=int(exclusive),
            cluster=int(cluster),
            top_overlaps=[(o, int(p)) for o, p in zip(overlap_ids, overlap_persons, strict=True)],
        )
        for (
            employee_id,
            department,
            region,
            naive,
            followers,
            exclusive,
            cluster,
            overlap_ids,
            overlap_persons,
        ) in client.execute(SNAPSHOT_EMPLOYEES_SQL, {"snapshot": company.snapshot_id})
    ]


def snapshot_coverage(client: Client, company: ScopeMetrics) -> list[CoveragePoint]:
    """The coverage curve of the snapshot of `company`."""
    return [
        CoveragePoint(
            snapshot_id=company.snapshot_id,
            taken_at=company.taken_at,
            rank=int(rank),
            employee_id=employee_id,
            new_persons=int(new),
            cumulative_persons=int(cumulative),
            cumulative_share=float(share),
        )
        for rank, employee_id, new, cumulative, share in client.execute(
            SNAPSHOT_COVERAGE_SQL, {"snapshot": company.snapshot_id}
        )
    ]


def snapshot_campaigns(client: Client, company: ScopeMetrics) -> list[CampaignReach]:
    """The campaigns of the snapshot of `company`."""
    return [
        CampaignReach(
            snapshot_id=company.snapshot_id,
            taken_at=company.taken_at,
            campaign_id=campaign_id,
            relaying_employees=int(employees),
            posts=int(posts),
            naive_reach=int(naive),
            distinct_persons=int(persons),
        )
        for campaign_id, employees, posts, naive, persons in client.execute(
            SNAPSHOT_CAMPAIGNS_SQL, {"snapshot": company.snapshot_id}
        )
    ]


def _scope_metrics(
    snapshot_id: str, taken_at: datetime, kind: Any, scope: str, values: tuple[Any, ...]
) -> ScopeMetrics:
    employees, naive, accounts, persons, estimated, low, high = values
    return ScopeMetrics(
        snapshot_id=snapshot_id,
        taken_at=_utc(taken_at),
        scope_kind=kind,
        scope=scope,
        employees=int(employees),
        naive_reach=int(naive),
        distinct_accounts=int(accounts),
        distinct_persons=int(persons),
        estimated_persons=float(estimated),
        ci_low=float(low),
        ci_high=float(high),
    )


# Slip-ups per hour -------------------------------------------------------------------

# Per hour and category, the last `history_seconds` before the latest slip-up.
HOURLY_SLIPUPS_SQL = """
SELECT hour, category, sum(slipups) AS slipups
FROM hourly_slipups
WHERE hour >= (SELECT max(hour) FROM hourly_slipups_state) - %(history_seconds)s
GROUP BY hour, category
ORDER BY hour, category
"""


@dataclass(frozen=True, slots=True)
class SlipUpCount:
    """Slip-ups of one category in one bucket (an hour or a day, UTC)."""

    bucket: datetime
    category: str
    slipups: int


def hourly_slipups(client: Client, history: timedelta) -> list[SlipUpCount]:
    """Slip-ups per hour and category over `history` up to the latest one, oldest first."""
    rows = client.execute(HOURLY_SLIPUPS_SQL, {"history_seconds": int(history.total_seconds())})
    return [SlipUpCount(_utc(hour), category, int(n)) for hour, category, n in rows]


# Alert incidents -------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """One incident as `chorus alerts list` shows it."""

    incident_id: str
    scope_kind: str
    scope: str
    status: str  # the latest: "firing" or "resolved"
    opened_at: datetime
    resolved_at: datetime | None  # end of the window that resolved it
    count: int  # flagged posts in the opening window when it fired
    baseline: float
    p_value: float
    summary: str
    scopes: tuple[str, ...] = ()  # every scope it grouped, as its latest alert lists them

    def line(self) -> str:
        """One line for people: status, scope, when, how unusual, the scopes it grouped."""
        resolved = f"{self.resolved_at:%Y-%m-%d %H:%M}" if self.resolved_at else "open"
        return (
            f"{self.status:8} {self.scope_kind}={self.scope:24} "
            f"opened {self.opened_at:%Y-%m-%d %H:%M} UTC  resolved {resolved:16} "
            f"count {self.count} (expected {self.baseline:.2f}, p={self.p_value:.1e})  "
            f"{self.incident_id}  {' '.join(self.scopes)}"
        ).rstrip()


# Replayed alerts are duplicate rows until ReplacingMergeTree merges them; these
# aggregates ignore them.
RECENT_INCIDENTS_SQL = """
SELECT
    incident_id,
    any(scope_kind),
    any(scope),
    if(countIf(status = 'resolved') > 0, 'resolved', 'firing') AS latest_status,
    min(opened_at) AS opened,
    maxIf(window_end, status = 'resolved'),
    maxIf(count, status = 'firing'),
    maxIf(baseline, status = 'firing'),
    minIf(p_value, status = 'firing'),
    anyIf(summary, status = 'firing'),
    argMax(scopes, status)
FROM alerts
GROUP BY incident_id
ORDER BY opened DESC, incident_id
LIMIT %(limit)s
"""


def recent_incidents(client: Client, limit: int = 20) -> list[Incident]:
    """The latest `limit` incidents, newest first."""
    rows = client.execute(RECENT_INCIDENTS_SQL, {"limit": limit})
    return [
        Incident(
            incident_id=row[0],
            scope_kind=row[1],
            scope=row[2],
            status=row[3],
            opened_at=_utc(row[4]),
            resolved_at=_utc(row[5]) if row[3] == "resolved" else None,
            count=int(row[6]),
            baseline=float(row[7]),
            p_value=float(row[8]),
            summary=row[9],
            scopes=tuple(row[10]),
        )
        for row in rows
    ]


def _utc(value: datetime) -> datetime:
    """A time as the records carry it, in datetime.UTC (clickhouse-driver: naive or pytz)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
