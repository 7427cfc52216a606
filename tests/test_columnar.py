"""schemas.columnar: the micro-batch messages of Chorus's topics, for every record type."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from pipeline.topology import BY_NAME
from pipeline.warehouse import TABLES
from schemas import columnar
from schemas.columnar import BatchDecoder
from schemas.events import Follow
from schemas.metrics import CoveragePoint, ScopeMetrics
from tests.test_warehouse import T0, sample_records


def follows(n: int) -> list[Follow]:
    return [
        Follow(event_id=f"f{i}", occurred_at=T0, network="x", account_id="@a",
               follower_id=f"p{i}", action="follow")
        for i in range(n)
    ]  # fmt: skip


def runs() -> list[list[Any]]:
    ordered = sorted(sample_records(), key=lambda record: type(record).__name__)
    return [list(run) for _, run in itertools.groupby(ordered, type)]


@pytest.mark.parametrize("records", runs(), ids=lambda run: type(run[0]).__name__)
def test_every_record_type_comes_back_as_it_went(records: list[Any]) -> None:
    kind = type(records[0])
    decoder = BatchDecoder(kind)
    message = columnar.encode(records)
    assert decoder.records(message) == records
    # The sink's columns, from the message, are those the records give.
    table = TABLES[kind]
    assert table.from_columns(decoder.columns(message)) == table.to_columns(records)


def test_a_message_names_each_field_once() -> None:
    assert msgspec.json.decode(columnar.encode(follows(3))) == {
        "type": "follow",
        "network": ["x", "x", "x"],
        "account_id": ["@a", "@a", "@a"],
        "follower_id": ["p0", "p1", "p2"],
        "action": ["follow", "follow", "follow"],
        "event_id": ["f0", "f1", "f2"],
        "occurred_at": ["2026-03-02T09:00:00Z"] * 3,
    }


def test_a_topic_of_several_types_tells_them_apart_by_tag() -> None:
    rows = [r for r in sample_records() if isinstance(r, ScopeMetrics | CoveragePoint)]
    scopes = [r for r in rows if isinstance(r, ScopeMetrics)]
    points = [r for r in rows if isinstance(r, CoveragePoint)]
    assert BY_NAME["metrics"].decoder.records(columnar.encode(points)) == points
    columns = BY_NAME["metrics"].decoder.columns(columnar.encode(scopes))
    assert BY_NAME["metrics"].decoder.kind_of(columns) is ScopeMetrics


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b'{"type": "follow", "event_id": ["f1"]}', "missing required field"),
        (b"not json", "malformed"),
        (b'{"type": "post", "event_id": []}', "Invalid value 'post'"),
    ],
)
def test_a_message_that_is_not_the_topics_is_refused(message: bytes, error: str) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError), match=error):
        BatchDecoder(Follow).columns(message)


def test_columns_of_different_lengths_are_refused() -> None:
    ragged = columnar.encode(follows(2)).replace(b'"event_id":["f0","f1"]', b'"event_id":["f0"]')
    with pytest.raises(msgspec.ValidationError, match=r"different lengths \[1, 2\]"):
        BatchDecoder(Follow).columns(ragged)


def test_a_message_from_before_a_defaulted_field_existed_decodes_with_the_default() -> None:
    [post] = [r for r in sample_records() if type(r).__name__ == "Post"][:1]
    written = msgspec.json.decode(columnar.encode([post, post]))
    for name in ("kind", "in_reply_to", "in_reply_to_author"):  # fields added in 0008
        del written[name]
    decoder = BatchDecoder(type(post))
    old = decoder.records(msgspec.json.encode(written))
    assert [(p.kind, p.in_reply_to) for p in old] == [(None, None), (None, None)]
    assert (
        len(TABLES[type(post)].from_columns(decoder.columns(msgspec.json.encode(written)))[0]) == 2
    )


def test_a_value_is_validated_as_in_the_record() -> None:
    message = columnar.encode(follows(1)).replace(b'"event_id":["f0"]', b'"event_id":[""]')
    with pytest.raises(msgspec.ValidationError, match=r"length >= 1 - at `\$.event_id\[0\]`"):
        BatchDecoder(Follow).columns(message)
