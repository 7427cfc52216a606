"""Ingest: every input ends in exactly one place, normalised and pseudonymised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest import (
    Accepted,
    Ingestor,
    Pseudonymiser,
    Reason,
    Rejected,
    pseudonymiser_from_env,
)
from schemas.events import Employee, Follow, IdentityLink, Post
from schemas.export import JSON_DIR, rendered

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ingestor = Ingestor(Pseudonymiser(b"test-key"), clock=lambda: NOW)

VALID: dict[str, dict[str, Any]] = {
    "employee": {
        "employee_id": "E1",
        "department": " Sales ",
        "region": "EMEA",
        "active": True,
        "accounts": [{"network": "X", "account_id": "alice_x"}],
    },
    "post": {
        "post_id": "P1",
        "employee_id": "E1",
        "network": "LinkedIn",
        "account_id": "alice_li",
        "text": "Cafe\u0301 et cre\u0300me",
        "lang": "FR",
        "campaign_id": "C1",
        "kind": "reply",
        "in_reply_to": "P0",
        "in_reply_to_author": "frank",
    },
    "follow": {"network": "X", "account_id": "alice_x", "follower_id": "bob", "action": "follow"},
    "identity_link": {
        "network_a": "X",
        "account_a": "bob",
        "network_b": "Mastodon",
        "account_b": "bob@social",
        "evidence": "same e-mail",
        "confidence": 0.9,
    },
    "engagement": {"post_id": "P1", "network": "X", "actor_id": "carol", "kind": "like"},
    "account_stats": {
        "network": "Instagram",
        "account_id": "alice_ig",
        "followers_count": 120,
        "follower_sample": ["dave", "erin"],
    },
}


def event(kind: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"ev-{kind}",
        "occurred_at": "2026-11-27T13:00:00+01:00",
        **VALID[kind],
        **changes,
    }


def raw(document: Any) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_valid_type_is_accepted_and_routed(kind: str) -> None:
    outcome = ingestor.process(raw(event(kind)))
    assert isinstance(outcome, Accepted)
    assert outcome.event.occurred_at == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert outcome.event.occurred_at.tzinfo == UTC


def test_normalisation() -> None:
    post = ingestor.process(raw(event("post")))
    assert isinstance(post, Accepted) and isinstance(post.event, Post)
    assert post.route == "posts" and post.key == b"E1"
    assert post.event.network == "linkedin"
    assert post.event.text == "Café et crème"  # NFC
    assert post.event.lang == "fr"
    employee = ingestor.process(raw(event("employee")))
    assert isinstance(employee, Accepted) and isinstance(employee.event, Employee)
    assert employee.event.department == "Sales"
    account = employee.event.accounts[0]
    assert account.network == "x" and account.account_id == "alice_x"
    assert account.pseudonym == ingestor.pseudonymise("x", "alice_x")


def test_third_party_ids_are_pseudonymised_consistently() -> None:
    follow = ingestor.process(raw(event("follow")))
    link = ingestor.process(raw(event("identity_link")))
    assert isinstance(follow, Accepted) and isinstance(follow.event, Follow)
    assert isinstance(link, Accepted) and isinstance(link.event, IdentityLink)
    assert follow.event.follower_id == link.event.account_a  # same person, same pseudonym
    assert follow.event.follower_id.startswith("p") and len(follow.event.follower_id) == 33
    assert follow.key == f"x/alice_x/{follow.event.follower_id}".encode()
    # The raw ids of third parties appear nowhere in what leaves ingest.
    for kind in VALID:
        outcome = ingestor.process(raw(event(kind)))
        assert isinstance(outcome, Accepted)
        encoded = msgspec.json.encode(outcome.event) + outcome.key
        for secret in (b"bob", b"carol", b"dave", b"erin", b"frank"):
            assert secret not in encoded


def test_a_reply_names_its_third_party_author_by_pseudonym_and_old_posts_stay_valid() -> None:
    reply = ingestor.process(raw(event("post")))
    assert isinstance(reply, Accepted) and isinstance(reply.event, Post)
    assert (reply.event.kind, reply.event.in_reply_to) == ("reply", "P0")
    assert reply.event.in_reply_to_author == ingestor.pseudonymise("linkedin", "frank")
    old = {
        k: v
        for k, v in event("post").items()
        if k not in ("kind", "in_reply_to", "in_reply_to_author")
    }
    before = ingestor.process(raw(old))
    assert isinstance(before, Accepted) and isinstance(before.event, Post)
    assert (before.event.kind, before.event.in_reply_to, before.event.in_reply_to_author) == (
        None,
    ) * 3


def test_the_key_decides_the_pseudonym() -> None:
    assert Pseudonymiser(b"a")("x", "bob") != Pseudonymiser(b"b")("x", "bob")
    assert Pseudonymiser(b"a")("x", "bob") != Pseudonymiser(b"a")("mastodon", "bob")
    assert "a" not in repr(Pseudonymiser(b"a")).replace("Pseudonymiser", "")


def test_production_refuses_to_start_without_a_key() -> None:
    with pytest.raises(RuntimeError, match="CHORUS_PSEUDONYM_KEY"):
        pseudonymiser_from_env("production", {})
    with pytest.raises(RuntimeError, match="1 bytes"):
        pseudonymiser_from_env("production", {"CHORUS_PSEUDONYM_KEY": "k"})
    assert pseudonymiser_from_env("production", {"CHORUS_PSEUDONYM_KEY": "k" * 32})("x", "a")
    assert pseudonymiser_from_env("development", {})("x", "a")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", Reason.NOT_JSON),
        (b"\xff\xfe{}", Reason.NOT_JSON),
        (b'{"type": "post", "text": "\xff"}', Reason.INVALID_UTF8),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (raw(event("follow", type="poke")), Reason.UNKNOWN_TYPE),
        (raw({k: v for k, v in event("follow").items() if k != "type"}), Reason.UNKNOWN_TYPE),
        (
            raw({k: v for k, v in event("follow").items() if k != "follower_id"}),
            Reason.MISSING_FIELD,
        ),
        (raw(event("follow", follower_id=42)), Reason.WRONG_TYPE),
        (raw(event("follow", action="like")), Reason.INVALID_VALUE),
        (raw(event("account_stats", followers_count=-1)), Reason.INVALID_VALUE),
        (raw(event("identity_link", confidence=1.5)), Reason.INVALID_VALUE),
        (raw(event("follow", occurred_at="yesterday")), Reason.INVALID_VALUE),
        (raw(event("follow", occurred_at="2026-11-27T12:00:00")), Reason.INVALID_VALUE),
        (raw(event("follow", occurred_at="2031-01-01T00:00:00Z")), Reason.FUTURE_TIMESTAMP),
        (raw(event("follow", occurred_at="1970-01-01T00:00:00Z")), Reason.INVALID_VALUE),
        (raw(event("follow", network="  ")), Reason.INVALID_VALUE),
        (raw(event("post", text="x" * 40_001)), Reason.INVALID_VALUE),
        (b'{"event_id": "other", ' + raw(event("follow"))[1:], Reason.DUPLICATE_KEY),
        (b"{" + b" " * (1 << 20) + b"}", Reason.TOO_LARGE),
    ],
)
def test_bad_input_has_a_reason(payload: bytes, reason: Reason) -> None:
    outcome = ingestor.process(payload)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason == reason, outcome.message
    assert outcome.message


def test_a_duplicate_key_hidden_by_an_escape_is_found() -> None:
    payload = raw(event("follow"))[:-1] + b', "follower_\\u0069d": "mallory"}'
    outcome = ingestor.process(payload)
    assert isinstance(outcome, Rejected) and outcome.reason == Reason.DUPLICATE_KEY


def test_a_duplicate_beside_an_absent_optional_field_is_found() -> None:
    roster = {k: v for k, v in event("employee").items() if k != "accounts"}
    payload = raw(roster)[:-1] + b', "region" : "APAC"}'
    outcome = ingestor.process(payload)
    assert isinstance(outcome, Rejected) and outcome.reason == Reason.DUPLICATE_KEY
    for kind in ("post", "account_stats"):
        payload = raw(event(kind))[:-1] + b', "event_id"\t:\n"again"}'
        outcome = ingestor.process(payload)
        assert isinstance(outcome, Rejected) and outcome.reason == Reason.DUPLICATE_KEY, kind


def test_explicit_defaults_and_unknown_fields_are_not_duplicates() -> None:
    for extra in (b', "url": null', b', "shiny_new_field" : 1'):
        outcome = ingestor.process(raw(event("post"))[:-1] + extra + b"}")
        assert isinstance(outcome, Accepted), extra


def test_a_key_name_inside_text_is_not_a_duplicate() -> None:
    outcome = ingestor.process(raw(event("post", text='he wrote "text": twice, "text"')))
    assert isinstance(outcome, Accepted)


def _mutations() -> st.SearchStrategy[bytes]:
    def mutate(kind: str, field: str, value: Any, drop: bool) -> bytes:
        document = event(kind)
        if drop:
            document.pop(field, None)
        else:
            document[field] = value
        return raw(document)

    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=5,
    )
    fields = sorted({name for kind in VALID for name in event(kind)})
    return st.builds(
        mutate, st.sampled_from(sorted(VALID)), st.sampled_from(fields), json_values, st.booleans()
    )


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | _mutations())
def test_fuzz_every_input_ends_in_exactly_one_place(payload: bytes) -> None:
    outcome = ingestor.process(payload)
    assert isinstance(outcome, Accepted | Rejected)
    if isinstance(outcome, Rejected):
        assert isinstance(outcome.reason, Reason) and outcome.message
    else:
        assert outcome.route in {
            "employees",
            "posts",
            "follows",
            "identity",
            "engagement",
            "account_stats",
        }
        msgspec.json.encode(outcome.event)  # what goes to the typed topic encodes


def test_json_schema_files_match_the_code() -> None:
    for name, content in rendered().items():
        path = JSON_DIR / name
        regenerate = "regenerate with `.venv/bin/python -m schemas.export` and review the diff"
        assert path.exists(), f"{path} missing: {regenerate}"
        assert path.read_text() == content, f"{path} is stale: {regenerate}"
