"""The ClickHouse table of every record type, and the INSERT that writes a batch into it.

`TABLES` maps each record type (schemas/) to its table and turns a batch of
records, or a message's columns (`schemas.columnar`), into the table's columns,
which clickhouse-driver inserts without transposing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from clickhouse_driver import Client

from pipeline.topology import table_of
from schemas.dead_letter import DeadLetter, redacted
from schemas.events import AccountStats, Employee, Engagement, Follow, IdentityLink, Post
from schemas.metrics import (
    AccountPerson,
    CampaignReach,
    CoveragePoint,
    EmployeeReach,
    ScopeMetrics,
)
from schemas.review import ReviewAction
from schemas.slipups import Alert, AlertDelivery, SlipUp

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


def _table(record: type, /, *plain: str, **derived: Column) -> Table:
    """The table `record` lands in (`pipeline.topology`): the record's fields of the same names,
    then the derived columns."""
    columns: dict[str, Column] = {}
    for field in plain:
        columns[field] = Column(field, _unix_seconds if field in _TIMES else None)
    columns.update(derived)
    return Table(table_of(record), columns)


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
        Employee,
        *("event_id", "occurred_at", "employee_id", "department", "region", "active"),
        account_networks=_each("accounts", attrgetter("network")),
        account_ids=_each("accounts", attrgetter("account_id")),
        account_pseudonyms=_each("accounts", attrgetter("pseudonym")),
    ),
    Post: _table(
        Post,
        *("event_id", "occurred_at", "post_id", "employee_id", "network", "account_id", "text"),
        lang=_or_empty("lang"),
        url=_or_empty("url"),
        campaign_id=_or_empty("campaign_id"),
        kind=_or_empty("kind"),
        in_reply_to=_or_empty("in_reply_to"),
        in_reply_to_author=_or_empty("in_reply_to_author"),
    ),
    Follow: _table(
        Follow, "event_id", "occurred_at", "network", "account_id", "follower_id", "action"
    ),
    IdentityLink: _table(
        IdentityLink,
        *("event_id", "occurred_at", "network_a", "account_a", "network_b", "account_b"),
        *("evidence", "confidence"),
    ),
    Engagement: _table(
        Engagement, "event_id", "occurred_at", "post_id", "network", "actor_id", "kind"
    ),
    AccountStats: _table(
        AccountStats,
        *("event_id", "occurred_at", "network", "account_id", "followers_count"),
        has_sample=Column("follower_sample", lambda samples: [s is not None for s in samples]),
        follower_sample=Column("follower_sample", lambda samples: [s or [] for s in samples]),
    ),
    SlipUp: _table(
        SlipUp,
        *("slipup_id", "post_id", "event_id", "occurred_at", "flagged_at", "employee_id"),
        *("department", "region", "network", "rule", "category", "severity", "excerpt", "hint"),
    ),
    Alert: _table(
        Alert,
        *("alert_id", "incident_id", "status", "scope_kind", "scope", "scopes"),
        *("window_start", "window_end", "count", "baseline", "p_value", "opened_at", "summary"),
    ),
    ScopeMetrics: _table(
        ScopeMetrics,
        *_SNAPSHOT,
        *("scope_kind", "scope", "employees", "naive_reach", "distinct_accounts"),
        *("distinct_persons", "estimated_persons", "ci_low", "ci_high"),
    ),
    EmployeeReach: _table(
        EmployeeReach,
        *_SNAPSHOT,
        *("employee_id", "department", "region", "naive_followers", "followers"),
        *("exclusive_followers", "cluster"),
        overlap_employee_ids=_each("top_overlaps", lambda pair: pair[0]),
        overlap_persons=_each("top_overlaps", lambda pair: pair[1]),
    ),
    CoveragePoint: _table(
        CoveragePoint,
        *_SNAPSHOT,
        *("rank", "employee_id", "new_persons", "cumulative_persons", "cumulative_share"),
    ),
    CampaignReach: _table(
        CampaignReach,
        *_SNAPSHOT,
        *("campaign_id", "relaying_employees", "posts", "naive_reach", "distinct_persons"),
    ),
    AccountPerson: _table(AccountPerson, *_SNAPSHOT, "account", "person", "colleague"),
    AlertDelivery: _table(
        AlertDelivery,
        *("alert_id", "url", "ok", "attempts", "error", "finished_at"),
        status=Column("status", lambda statuses: [status or 0 for status in statuses]),
    ),
    ReviewAction: _table(
        ReviewAction,
        *("action_id", "flag_id", "flag_kind", "post_id", "employee_id", "rule", "category"),
        *("action", "outcome", "status", "version", "reason", "note", "refused_because"),
        *("reviewer", "occurred_at"),
    ),
    DeadLetter: _table(
        DeadLetter,
        *("topic", "partition", "offset", "size", "digest", "reason", "message", "failed_at"),
        raw=Column("raw", lambda raws: [redacted(raw) for raw in raws]),
    ),
}


def insert_columns(client: Client, table: Table, columns: Block) -> None:
    """One INSERT of columns built by `table.to_columns` (blocking: run it in a thread).

    clickhouse-driver works on copies of the columns, so a failed insert can be
    retried with the same ones.
    """
    client.execute(table.insert_sql, columns, columnar=True, settings={"insert_deduplicate": 1})
