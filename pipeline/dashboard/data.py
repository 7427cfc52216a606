"""What the dashboard shows, read from ClickHouse into one plain object.

Every chart of the page comes from one `Dashboard`, so the page can be drawn
(and tested) without a server, and the live server and `--out` draw the same
thing. The latest snapshot is the latest *company* snapshot; its scopes,
employees and coverage curve are read by its snapshot_id, so one page never
mixes two snapshots however fast new ones arrive.

The SQL is portable down to ClickHouse 18.16 (no window functions) and runs on
current ClickHouse too. The tables are ReplacingMergeTrees, so replayed rows
are read away with FINAL (snapshots) or aggregated states (the slip-up
roll-up of sql/0004).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from clickhouse_driver.errors import Error as ClickHouseError
from clickhouse_driver.errors import ErrorCodes, ServerException

from pipeline import warehouse
from pipeline.audience.report import Report
from pipeline.settings import Settings
from pipeline.slipups.alerts import Incident, recent_incidents
from schemas.metrics import CoveragePoint, EmployeeReach, ScopeMetrics

# How far back the slip-up chart looks, counted from the latest slip-up (not from
# now, so a replayed or simulated month still shows).
SLIPUP_HISTORY = timedelta(days=30)
# Above this span the chart counts per day, below it per hour.
HOURLY_UP_TO = timedelta(days=7)
INCIDENT_LIMIT = 500

# Snapshots may come every few seconds for months: the trend keeps the last
# snapshot of each of at most TREND_POINTS equal slots of its time span.
TREND_POINTS = 500
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

SNAPSHOT_COVERAGE_SQL = """
SELECT rank, employee_id, new_persons, cumulative_persons, cumulative_share
FROM coverage_curve FINAL
WHERE snapshot_id = %(snapshot)s
ORDER BY rank
"""

# Per hour and category, the last SLIPUP_HISTORY before the latest slip-up.
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


@dataclass(frozen=True, slots=True)
class ScopeReach:
    """One department or region of the latest snapshot."""

    kind: str  # department or region
    name: str
    employees: int
    true_reach: int  # distinct persons following someone in the scope
    exclusive_reach: int  # sum of its employees' exclusive followers
    naive_reach: int


@dataclass(frozen=True, slots=True)
class Cluster:
    """An audience cluster: employees who reach largely the same people."""

    number: int
    employees: int
    followers: int  # sum of its employees' followers (persons; they overlap)
    exclusive_followers: int


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows; `latest` is None until the first snapshot arrives."""

    database: str
    read_at: datetime
    trend: list[ScopeMetrics]  # every company snapshot, oldest first
    latest: Report | None
    slipups: list[SlipUpCount] = field(default_factory=list)
    slipup_bucket: Literal["hour", "day"] = "hour"
    incidents: list[Incident] = field(default_factory=list)  # newest first

    @property
    def company(self) -> ScopeMetrics | None:
        return self.latest.company if self.latest else None

    def scopes(self, kind: str) -> list[ScopeReach]:
        """The departments (or regions) of the latest snapshot, largest true reach first."""
        if self.latest is None:
            return []
        exclusive: dict[str, int] = defaultdict(int)
        for employee in self.latest.employees:
            exclusive[employee.department if kind == "department" else employee.region] += (
                employee.exclusive_followers
            )
        rows = [
            ScopeReach(
                kind,
                s.scope,
                s.employees,
                s.distinct_persons,
                exclusive[s.scope],
                s.naive_reach,
            )
            for s in self.latest.scopes
            if s.scope_kind == kind
        ]
        return sorted(rows, key=lambda r: (-r.true_reach, r.name))

    def top_employees(self, count: int = 15) -> list[EmployeeReach]:
        """Who brings audience no one else reaches: most exclusive followers first."""
        if self.latest is None:
            return []
        ranked = sorted(
            self.latest.employees,
            key=lambda e: (-e.exclusive_followers, -e.followers, e.employee_id),
        )
        return [e for e in ranked[:count] if e.exclusive_followers > 0]

    def clusters(self) -> list[Cluster]:
        """The audience clusters of the latest snapshot, largest reach first."""
        if self.latest is None:
            return []
        members: dict[int, list[EmployeeReach]] = defaultdict(list)
        for employee in self.latest.employees:
            if employee.cluster >= 0:
                members[employee.cluster].append(employee)
        clusters = [
            Cluster(
                number,
                len(group),
                sum(e.followers for e in group),
                sum(e.exclusive_followers for e in group),
            )
            for number, group in members.items()
        ]
        return sorted(clusters, key=lambda c: (-c.followers, c.number))

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents if i.status == "firing"]


class WarehouseUnavailable(RuntimeError):
    """ClickHouse cannot answer the dashboard; the message says why and what to run."""


def load_dashboard(client: Any, database: str, now: datetime | None = None) -> Dashboard:
    """Read the dashboard (client: a clickhouse_driver.Client on the Chorus database)."""
    read_at = now or datetime.now(UTC)
    trend = _company_trend(client)
    latest = _latest_report(client, trend[-1]) if trend else None
    slipups, bucket = _slipups(client)
    incidents = recent_incidents(client, INCIDENT_LIMIT)
    return Dashboard(database, read_at, trend, latest, slipups, bucket, incidents)


def read_dashboard(settings: Settings) -> Dashboard:
    """Connect with `settings`, read the dashboard; ClickHouse trouble becomes one clear message."""
    client = warehouse.client(settings)
    try:
        return load_dashboard(client, settings.clickhouse_database)
    except ServerException as exc:
        raise WarehouseUnavailable(_explain(exc, settings)) from exc
    except (ClickHouseError, OSError, EOFError) as exc:
        raise WarehouseUnavailable(
            f"ClickHouse is not reachable at {settings.clickhouse_host}:{settings.clickhouse_port} "
            f"({_first_line(exc)}). Start it with `chorus services up`."
        ) from exc
    finally:
        client.disconnect()


def _explain(exc: ServerException, settings: Settings) -> str:
    database = settings.clickhouse_database
    if exc.code == ErrorCodes.UNKNOWN_DATABASE:
        return f"ClickHouse has no database {database!r}. Create it with `chorus db migrate`."
    if exc.code == ErrorCodes.UNKNOWN_TABLE:
        return (
            f"A table the dashboard reads is missing in database {database!r} "
            f"({_first_line(exc)}). Apply the migrations with `chorus db migrate`."
        )
    return f"ClickHouse refused the dashboard's query: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _company_trend(client: Any) -> list[ScopeMetrics]:
    """The company snapshots, thinned to TREND_POINTS; the last one is the latest snapshot."""
    ((first, last),) = client.execute(COMPANY_SPAN_SQL)
    if not last:
        return []
    slot_seconds = max(1, -(-(int(last) - int(first) + 1) // TREND_POINTS))
    rows = client.execute(COMPANY_TREND_SQL, {"slot_seconds": slot_seconds})
    return [_scope_metrics(row[1], row[2], "company", "", row[3:]) for row in rows]


def _latest_report(client: Any, company: ScopeMetrics) -> Report:
    params = {"snapshot": company.snapshot_id}
    scopes = [
        _scope_metrics(company.snapshot_id, company.taken_at, row[0], row[1], row[2:])
        for row in client.execute(SNAPSHOT_SCOPES_SQL, params)
    ]
    employees = [
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
        ) in client.execute(SNAPSHOT_EMPLOYEES_SQL, params)
    ]
    coverage = [
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
            SNAPSHOT_COVERAGE_SQL, params
        )
    ]
    return Report([company, *scopes], employees, coverage, [])


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


def _slipups(client: Any) -> tuple[list[SlipUpCount], Literal["hour", "day"]]:
    rows = client.execute(
        HOURLY_SLIPUPS_SQL, {"history_seconds": int(SLIPUP_HISTORY.total_seconds())}
    )
    hourly = [SlipUpCount(_utc(hour), category, int(n)) for hour, category, n in rows]
    if not hourly or hourly[-1].bucket - hourly[0].bucket <= HOURLY_UP_TO:
        return hourly, "hour"
    daily: dict[tuple[datetime, str], int] = defaultdict(int)
    for count in hourly:
        day = count.bucket.replace(hour=0, minute=0, second=0, microsecond=0)
        daily[day, count.category] += count.slipups
    return [SlipUpCount(day, category, n) for (day, category), n in sorted(daily.items())], "day"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
