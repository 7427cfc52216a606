"""The event contract: the six event types Chorus accepts on `chorus.raw`.

Events are msgspec Structs, a tagged union on `type`: one decoder validates a
whole event in about a microsecond, which is what lets the ingest agent carry
raw bytes through faust and still keep up with a broker. The same Structs are
the records of the typed topics (`chorus.posts`, ...; `schemas.columnar`),
after ingest has normalised them and replaced third-party account ids by
pseudonyms.

`schemas/json/*.schema.json` is the JSON Schema export of these types; a test
keeps it in step with the code (`python -m schemas.export` rewrites it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

MAX_EVENT_BYTES = 1 << 20  # of one raw event; larger ones are dead letters (`too_large`)
MAX_ID_LENGTH = 256
MAX_NETWORK_LENGTH = 64
MAX_LANG_LENGTH = 16
MAX_TEXT_LENGTH = 40_000
MAX_SAMPLE_SIZE = 100_000

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
Network = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_NETWORK_LENGTH,
        description="open string (x, linkedin, mastodon...), lower-cased on ingest",
    ),
]
Timestamp = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset; UTC after ingest")
]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH)]


class Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True, gc=False):
    """Fields every event has. `event_id` is the idempotency key end to end.

    `gc=False` (inherited): events hold only strings, numbers and lists of
    them, never a cycle, so the cyclic GC need not track the millions a worker
    decodes (tracking them made collections a third of ingest's time).
    """

    event_id: Id
    occurred_at: Timestamp


class EmployeeAccount(msgspec.Struct, frozen=True, gc=False):
    network: Network
    account_id: Id
    # Filled by ingest: the account's pseudonym, so that the audience graph can
    # tell an employee's own account among (pseudonymised) followers.
    pseudonym: str = ""


class Employee(Event, tag="employee", frozen=True):
    """A roster entry: the latest one per employee_id is the truth from its time on."""

    employee_id: Id
    department: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
    region: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
    active: bool
    accounts: Annotated[list[EmployeeAccount], msgspec.Meta(max_length=64)] = []


class Post(Event, tag="post", frozen=True):
    """An outgoing post from an employee's company-branded account."""

    post_id: Id
    employee_id: Id
    network: Network
    account_id: Id
    text: Text
    lang: Annotated[str, msgspec.Meta(max_length=MAX_LANG_LENGTH)] | None = None
    url: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    campaign_id: Id | None = None
    kind: Literal["original", "reply", "repost"] | None = None
    # What the post answers: the post's id (on its network) and its author, a third
    # party's account (pseudonymised on ingest) or an employee's.
    in_reply_to: Id | None = None
    in_reply_to_author: Id | None = None


class Follow(Event, tag="follow", frozen=True):
    """A follower (third party, pseudonymised on ingest) follows or leaves an employee account."""

    network: Network
    account_id: Id
    follower_id: Id
    action: Literal["follow", "unfollow"]


class IdentityLink(Event, tag="identity_link", frozen=True):
    """Evidence that two accounts (pseudonymised on ingest) belong to one person."""

    network_a: Network
    account_a: Id
    network_b: Network
    account_b: Id
    evidence: Annotated[str, msgspec.Meta(max_length=1024)]
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class Engagement(Event, tag="engagement", frozen=True):
    """Someone (pseudonymised on ingest) engaged with an employee's post."""

    post_id: Id
    network: Network
    actor_id: Id
    kind: Literal["like", "share", "comment", "click"]


class AccountStats(Event, tag="account_stats", frozen=True):
    """What a network tells of an account it gives no follower list for.

    `follower_sample` must be a uniform sample of the followers (pseudonymised
    on ingest); `followers_count` is the total.
    """

    network: Network
    account_id: Id
    followers_count: Annotated[int, msgspec.Meta(ge=0, le=10**10)]
    follower_sample: Annotated[list[Id], msgspec.Meta(max_length=MAX_SAMPLE_SIZE)] | None = None


AnyEvent = Employee | Post | Follow | IdentityLink | Engagement | AccountStats
EVENT_TYPES: dict[str, type[Event]] = {
    "employee": Employee,
    "post": Post,
    "follow": Follow,
    "identity_link": IdentityLink,
    "engagement": Engagement,
    "account_stats": AccountStats,
}

raw_decoder = msgspec.json.Decoder(AnyEvent)
encoder = msgspec.json.Encoder()
