"""What the dashboard shows, read from ClickHouse into one plain object.

Every chart of the page comes from one `Dashboard`, so the page can be drawn
(and tested) without a server, and the live server and `--out` draw the same
thing. The latest snapshot is the latest *company* snapshot; its scopes,
employees, coverage curve and campaigns are read by its snapshot_id, so one
page never mixes two snapshots however fast new ones arrive. The queries are
in `pipeline.warehouse.reads` (the campaigns' here, beside its one use).

The conversation (is the company talking *with* its audience?) is read from
the event views of sql/0009 by `pipeline.warehouse.conversation`, for the
CONVERSATION_DAYS days up to the data's own "now" (just after the latest post
or engagement, not the wall clock, so a replayed or simulated month shows);
what it says is worded by `pipeline.conversation`, as in the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from clickhouse_driver.errors import Error as ClickHouseError
from clickhouse_driver.errors import ErrorCodes, ServerException

from pipeline import conversation as talk
from pipeline import warehouse
from pipeline.audience.report import Report
from pipeline.conversation import Conversation
from pipeline.settings import Settings
from pipeline.warehouse import reads
from pipeline.warehouse.conversation import active_ambassadors_by_day, conversation, data_end
from pipeline.warehouse.reads import Incident, SlipUpCount
from pipeline.warehouse.review import PolicyQuality, policy_counts, quality
from schemas.metrics import CampaignReach, EmployeeReach, ScopeMetrics

# How far back the slip-up chart looks, counted from the latest slip-up (not from
# now, so a replayed or simulated month still shows).
SLIPUP_HISTORY = timedelta(days=30)
# Above this span the chart counts per day, below it per hour.
HOURLY_UP_TO = timedelta(days=7)
INCIDENT_LIMIT = 500

# Snapshots may come every few seconds for months: the trend keeps the last
# snapshot of each of at most TREND_POINTS equal slots of its time span.
TREND_POINTS = 500

# The conversation panels look at this many days up to the data's latest event.
CONVERSATION_DAYS = 30
LEADERBOARD_SIZE = 15

# The campaigns of one snapshot (CampaignReach rows).


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


@dataclass(frozen=True, slots=True)
class MediaPrices:
    """What the earned media value prices reach and clicks at (settings CHORUS_EMV_*)."""

    currency: str
    cpm: Mapping[str, float]  # per 1,000 impressions, by network ("*": any other)
    cpc: Mapping[str, float]  # per click, by network

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPrices:
        """The prices of `settings`; ValueError naming the variable when one does not parse."""
        parsed = {}
        for name, spec in (
            ("CHORUS_EMV_CPM", settings.emv_cpm),
            ("CHORUS_EMV_CPC", settings.emv_cpc),
        ):
            try:
                parsed[name] = talk.prices(spec)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(settings.emv_currency, parsed["CHORUS_EMV_CPM"], parsed["CHORUS_EMV_CPC"])


@dataclass(frozen=True, slots=True)
class DepartmentConversation:
    """One department's conversation over the window."""

    name: str
    posts: int
    conversation_share: float  # posts that answer someone outside the company
    comments: int  # by people outside, on its posts
    response_rate: float  # of those comments, answered within 24 h
    median_response_seconds: int | None  # None: no comment answered


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows; `latest` is None until the first snapshot arrives.

    `conversation` holds every scope's conversation ("company", "department:X",
    "network:N", "employee:E"...) over the CONVERSATION_DAYS days before
    `conversation_end`; both are empty/None until the first post or engagement.
    """

    database: str
    read_at: datetime
    trend: list[ScopeMetrics]  # every company snapshot, oldest first
    latest: Report | None
    slipups: list[SlipUpCount] = field(default_factory=list)
    slipup_bucket: Literal["hour", "day"] = "hour"
    incidents: list[Incident] = field(default_factory=list)  # newest first
    conversation: dict[str, Conversation] = field(default_factory=dict)
    conversation_end: datetime | None = None
    conversation_days: int = CONVERSATION_DAYS
    # (day, ambassadors with a post in the 7 days to it, ambassadors), oldest first
    active_ambassadors: list[tuple[date, int, int]] = field(default_factory=list)
    prices: MediaPrices | None = None
    prices_problem: str | None = None  # why there are no prices (a setting that does not parse)
    policy_quality: PolicyQuality | None = None  # from the reviewers' verdicts

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

    # The conversation -------------------------------------------------------------

    @property
    def company_conversation(self) -> Conversation | None:
        """The company's conversation over the window; None when it holds no post nor engagement."""
        company = self.conversation.get("company")
        if company is None or not (company.posts or company.engagements):
            return None
        return company

    def conversation_headline(self) -> list[str]:
        """`pipeline.conversation.headline`'s two lines, as the CLI says them; [] without data."""
        company, scope = self.company_conversation, self.company
        if company is None or scope is None:
            return []
        return talk.headline(company, scope.estimated_persons, self.conversation_days)

    def campaigns(self) -> list[CampaignReach]:
        """The campaigns of the latest snapshot that reached anyone, most persons first."""
        if self.latest is None:
            return []
        reached = [c for c in self.latest.campaigns if c.naive_reach or c.distinct_persons]
        return sorted(reached, key=lambda c: (-c.distinct_persons, -c.naive_reach, c.campaign_id))

    def department_conversation(self) -> list[DepartmentConversation]:
        """Departments that posted or were commented on in the window, most conversational first."""
        rows = [
            DepartmentConversation(
                scope.removeprefix("department:"),
                c.posts,
                c.conversation_share,
                c.comments,
                c.response_rate,
                c.median_response_seconds if c.answered else None,
            )
            for scope, c in self.conversation.items()
            if scope.startswith("department:") and (c.posts or c.comments)
        ]
        return sorted(rows, key=lambda d: (-d.conversation_share, -d.response_rate, d.name))

    def leaderboard(self, top: int | None = LEADERBOARD_SIZE) -> list[talk.Leader]:
        """Employees ranked by the audience only they bring, then by how much they converse."""
        if self.latest is None:
            return []
        employees = self.latest.employees
        return talk.leaderboard(
            employees, self.conversation, len(employees) if top is None else top
        )

    def earned_media_value(self) -> talk.EarnedMediaValue | None:
        """Deduplicated and naive EMV: the latest snapshot's networks, the window's clicks."""
        if self.latest is None or self.prices is None:
            return None
        networks = [s for s in self.latest.scopes if s.scope_kind == "network"]
        if not networks:
            return None
        clicks = {
            scope.removeprefix("network:"): c.clicks
            for scope, c in self.conversation.items()
            if scope.startswith("network:")
        }
        prices = self.prices
        return talk.earned_media_value(networks, clicks, prices.cpm, prices.cpc, prices.currency)


class WarehouseUnavailable(RuntimeError):
    """ClickHouse cannot answer the dashboard; the message says why and what to run."""


def load_dashboard(
    client: Any,
    database: str,
    now: datetime | None = None,
    *,
    settings: Settings | None = None,
) -> Dashboard:
    """Read the dashboard (client: a clickhouse_driver.Client on the Chorus database).

    `settings` give the earned media value's prices (from the environment when omitted).
    """
    read_at = now or datetime.now(UTC)
    trend = reads.company_trend(client, TREND_POINTS)
    latest = _latest_report(client, trend[-1]) if trend else None
    slipups, bucket = _by_bucket(reads.hourly_slipups(client, SLIPUP_HISTORY))
    incidents = reads.recent_incidents(client, INCIDENT_LIMIT)
    run = client.execute
    end = data_end(run)
    scopes = conversation(run, end, CONVERSATION_DAYS) if end else {}
    active = active_ambassadors_by_day(run, end, CONVERSATION_DAYS) if end else []
    settings = settings or Settings.from_env()
    prices: MediaPrices | None = None
    problem: str | None = None
    try:
        prices = MediaPrices.from_settings(settings)
    except ValueError as exc:
        problem = str(exc)
    return Dashboard(
        database,
        read_at,
        trend,
        latest,
        slipups,
        bucket,
        incidents,
        scopes,
        end,
        CONVERSATION_DAYS,
        active,
        prices,
        problem,
        policy_quality=quality(policy_counts(run)),
    )


def read_dashboard(settings: Settings) -> Dashboard:
    """Connect with `settings`, read the dashboard; ClickHouse trouble becomes one clear message."""
    client = warehouse.client(settings)
    try:
        return load_dashboard(client, settings.clickhouse_database, settings=settings)
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


def _latest_report(client: Any, company: ScopeMetrics) -> Report:
    return Report(
        [company, *reads.snapshot_scopes(client, company)],
        reads.snapshot_employees(client, company),
        reads.snapshot_coverage(client, company),
        reads.snapshot_campaigns(client, company),
    )


def _by_bucket(hourly: list[SlipUpCount]) -> tuple[list[SlipUpCount], Literal["hour", "day"]]:
    """The chart's buckets: the hours, or days when they span more than HOURLY_UP_TO."""
    if not hourly or hourly[-1].bucket - hourly[0].bucket <= HOURLY_UP_TO:
        return hourly, "hour"
    daily: dict[tuple[datetime, str], int] = defaultdict(int)
    for count in hourly:
        day = count.bucket.replace(hour=0, minute=0, second=0, microsecond=0)
        daily[day, count.category] += count.slipups
    return [SlipUpCount(day, category, n) for (day, category), n in sorted(daily.items())], "day"
