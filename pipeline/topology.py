"""Every Chorus topic, declared once: what it carries, how it is partitioned and kept, who reads it.

Everything else derives from `TOPICS`: the faust app's topics and agents
(`agents/app.py`), ingest's routes (`route_of`), the sinks and the table each
record lands in (`table_of`, read by `pipeline.warehouse`), the audience
graph's inputs in the order a rebuild reads them (`read_by("audience")`),
`declare_topics`, the topic table of docs/events.md and the tests. Adding a
topic is adding one entry here.

Why the partitioning: a topic whose consumer keeps one global state (the
audience graph, the spike detector, the roster's order) has one partition,
so exactly one worker owns that state and sees its input in order; faust's
assignor gives co-partitioned one-partition topics to the same worker. The
bulk that needs no global state (raw input, engagement) spreads over
`CHORUS_PARTITIONS`. The topics the audience graph and the spike detector
are rebuilt from are kept for ever (`retention.ms=-1`).

Sizes fit end to end: every topic accepts messages up to `MAX_MESSAGE_BYTES`
(`max.message.bytes`, set at creation), the producers send up to that, and
ingest bounds what one event can become (`pipeline.ingest`), so an accepted
event always fits; a record that would not is refused before it is sent
(`agents.kafka.output`). chorus.dlq keeps refused inputs' original bytes for
`DLQ_RETENTION_DAYS`: raw third-party ids may be in them.

This module imports record types and nothing of Kafka: the engine reads it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec

from schemas.columnar import BatchDecoder
from schemas.dead_letter import DeadLetter
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

MAX_MESSAGE_BYTES = 8 << 20
DLQ_RETENTION_DAYS = 30


class Partitioning(enum.Enum):
    ONE = "one"  # one global state downstream: one partition, one owner
    SPREAD = "spread"  # CHORUS_PARTITIONS partitions, shared by the workers


@dataclass(frozen=True)
class Topic:
    """One topic: its short name (the full name is `Settings.topic(name)`) and its contract."""

    name: str
    # Record type -> the ClickHouse table its rows land in (the sink writes every one).
    # Empty where messages are not Chorus records (then `carries` says what they are).
    records: Mapping[type[msgspec.Struct], str]
    partitioning: Partitioning
    key: str  # what the message key is, hence what stays in order
    readers: tuple[str, ...]  # agent groups that consume it (`Settings.runs`)
    kept_for_ever: bool = False  # state is rebuilt from it after a restart
    retention_days: int | None = None  # None: the broker's default
    compacted: bool = False  # the latest value per key is kept for ever, older ones dropped
    carries: str = ""  # what the messages are, when they are not `records`
    about: str = field(default="", compare=False)

    @cached_property
    def decoder(self) -> BatchDecoder[Any]:
        """Decodes this topic's messages (`schemas.columnar`)."""
        return BatchDecoder(*self.records)

    def partitions(self, spread: int) -> int:
        """`spread`: `Settings.partitions`."""
        return 1 if self.partitioning is Partitioning.ONE else spread

    @property
    def config(self) -> dict[str, str]:
        """Topic-level Kafka configuration given at creation."""
        config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if self.compacted:
            config["cleanup.policy"] = "compact"
        elif self.kept_for_ever:
            config["retention.ms"] = "-1"
        elif self.retention_days is not None:
            config["retention.ms"] = str(self.retention_days * 86_400_000)
        return config


TOPICS: tuple[Topic, ...] = (
    Topic(
        "raw",
        {},
        Partitioning.SPREAD,
        key="`pipeline.ingest.raw_key`: related events together",
        readers=("ingest",),
        carries="JSON events",
        about="producers' JSON events, one per message",
    ),
    Topic(
        "connector_state",
        {},
        Partitioning.ONE,
        key="network/what: a cursor, a follower list, a follow record",
        readers=(),  # read whole by `chorus connect` at its start, not by an agent
        compacted=True,
        carries="connector checkpoints",
        about="where each connector is: resumes a killed `chorus connect` (pipeline/sources)",
    ),
    Topic(
        "dlq",
        {DeadLetter: "dead_letters"},
        Partitioning.ONE,
        key="none",
        readers=("sink",),
        retention_days=DLQ_RETENTION_DAYS,
        about="refused input: where it was, why, its bytes (operator only)",
    ),
    # The audience graph's inputs, in the order a rebuild reads them: the roster first (whose
    # accounts are employees'), then identities, then what the follows and relays refer to.
    Topic(
        "employees",
        {Employee: "employees"},
        Partitioning.ONE,
        key="employee_id",
        readers=("audience", "monitor", "sink"),
        kept_for_ever=True,
        about="roster versions",
    ),
    Topic(
        "identity",
        {IdentityLink: "identity_links"},
        Partitioning.ONE,
        key="the two pseudonyms, ordered",
        readers=("audience", "sink"),
        kept_for_ever=True,
        about="evidence that two accounts are one person",
    ),
    Topic(
        "account_stats",
        {AccountStats: "account_stats"},
        Partitioning.ONE,
        key="network/account_id",
        readers=("audience", "sink"),
        kept_for_ever=True,
        about="follower counts and samples where lists are missing",
    ),
    Topic(
        "follows",
        {Follow: "follows"},
        Partitioning.ONE,
        key="network/account_id/follower",
        readers=("audience", "sink"),
        kept_for_ever=True,
        about="follow and unfollow of employee accounts",
    ),
    Topic(
        "posts",
        {Post: "posts"},
        Partitioning.ONE,
        key="employee_id",
        readers=("audience", "monitor", "sink"),
        kept_for_ever=True,
        about="employees' posts: campaign relays, the policy scan",
    ),
    Topic(
        "engagement",
        {Engagement: "engagements"},
        Partitioning.SPREAD,
        key="post_id",
        readers=("sink",),
        about="likes, shares, comments, clicks",
    ),
    Topic(
        "slipups",
        {SlipUp: "slipups"},
        Partitioning.ONE,
        key="post_id",
        readers=("monitor", "sink"),
        kept_for_ever=True,
        about="posts the policy flagged; the spike detector is rebuilt from them",
    ),
    Topic(
        "alerts",
        {Alert: "alerts"},
        Partitioning.ONE,
        key="incident_id",
        readers=("monitor", "sink"),
        about="spike incidents opening and resolving",
    ),
    Topic(
        "alert_deliveries",
        {AlertDelivery: "alert_deliveries"},
        Partitioning.ONE,
        key="alert_id",
        readers=("sink",),
        about="how each webhook delivery ended",
    ),
    Topic(
        "review_actions",
        {ReviewAction: "review_actions"},
        Partitioning.ONE,
        key="flag_id",
        readers=("sink",),
        kept_for_ever=True,
        about="the communications team's actions on flags; the workspace is rebuilt from them",
    ),
    Topic(
        "metrics",
        {
            ScopeMetrics: "community_scopes",
            EmployeeReach: "employee_reach",
            CoveragePoint: "coverage_curve",
            CampaignReach: "campaign_reach",
            AccountPerson: "account_persons",
        },
        Partitioning.ONE,
        key="none",
        readers=("sink",),
        about="audience snapshots; the persons of linked accounts when they change",
    ),
)

BY_NAME: dict[str, Topic] = {topic.name: topic for topic in TOPICS}
_CARRIER: dict[type, Topic] = {kind: topic for topic in TOPICS for kind in topic.records}


def route_of(kind: type) -> str:
    """The short name of the topic that carries records of `kind`."""
    return _CARRIER[kind].name


def table_of(kind: type) -> str:
    """The ClickHouse table that records of `kind` land in."""
    return _CARRIER[kind].records[kind]


def read_by(agent: str) -> tuple[Topic, ...]:
    """The topics agent group `agent` consumes, in declaration order."""
    return tuple(topic for topic in TOPICS if agent in topic.readers)
