"""What the audience engine emits on `chorus.metrics` and writes to ClickHouse.

One snapshot is a set of rows sharing `snapshot_id` and `taken_at`: a
`ScopeMetrics` per scope, an `EmployeeReach` per active employee, a
`CoveragePoint` per step of the greedy coverage curve, a `CampaignReach` per
campaign. Tables in sql/ mirror these fields one to one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

ScopeKind = Literal["company", "department", "region", "network"]


class ScopeMetrics(msgspec.Struct, kw_only=True, frozen=True, tag="scope"):
    """The community of one scope. `scope` is "" for the company."""

    snapshot_id: str
    taken_at: datetime
    scope_kind: ScopeKind
    scope: str
    employees: int  # active employees in the scope
    naive_reach: int  # sum of follower counts, what advocacy tools report
    distinct_accounts: int  # distinct follower accounts in the complete lists
    distinct_persons: int  # identity components among them (exact)
    estimated_persons: float  # including accounts known only by count and sample
    ci_low: float  # 95 % interval of estimated_persons
    ci_high: float


class EmployeeReach(msgspec.Struct, kw_only=True, frozen=True, tag="employee"):
    snapshot_id: str
    taken_at: datetime
    employee_id: str
    department: str
    region: str
    naive_followers: int  # sum of the employee's accounts' follower counts
    followers: int  # distinct persons following at least one of the employee's accounts
    exclusive_followers: int  # of those, persons no other active employee reaches
    cluster: int  # audience cluster (employees who reach the same people), -1 if none
    top_overlaps: list[tuple[str, int]]  # (other employee_id, shared persons), largest first


class CoveragePoint(msgspec.Struct, kw_only=True, frozen=True, tag="coverage"):
    """Step `rank` of the greedy coverage curve: the employee who adds the most new persons."""

    snapshot_id: str
    taken_at: datetime
    rank: int  # 1-based
    employee_id: str
    new_persons: int
    cumulative_persons: int
    cumulative_share: float  # of the company's distinct persons, 0..1


class CampaignReach(msgspec.Struct, kw_only=True, frozen=True, tag="campaign"):
    """Distinct persons who follow at least one employee who relayed the campaign."""

    snapshot_id: str
    taken_at: datetime
    campaign_id: str
    relaying_employees: int
    posts: int
    naive_reach: int
    distinct_persons: int


MetricRow = ScopeMetrics | EmployeeReach | CoveragePoint | CampaignReach


class AccountPerson(msgspec.Struct, kw_only=True, frozen=True, tag="person"):
    """Which person an account belongs to, sent when it changes, for accounts linked to others.

    Every account no identity link merged is a person of its own. ClickHouse
    resolves engagers to persons with these rows (`engagement_persons`), so the
    engaged community counts a person once however many networks they used.
    """

    snapshot_id: str
    taken_at: datetime
    account: str  # a pseudonym
    person: str  # the smallest pseudonym of the account's identity component
    colleague: bool  # the person has an employee account: not audience
