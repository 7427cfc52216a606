"""Hostile input from the networks: one bad message or account never takes another with it.

Jetstream: any message, JSON or not, of any shape, is read or skipped (and
counted), never raised, and the valid follow after it still arrives.
Mastodon: any follower item, of any shape, fails its own account at worst
(`AccountsFailed`, kept for the next run); the other account's events all go out.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.observability import CONNECTOR_SKIPPED
from pipeline.sources.config import BlueskyAccount, BlueskyConfig, MastodonAccount, MastodonConfig
from pipeline.sources.http import ApiClient
from pipeline.sources.jetstream import JetstreamConnector
from pipeline.sources.mastodon import MastodonConnector
from pipeline.sources.run import AccountsFailed
from schemas.events import Follow
from tests.fakes_bluesky import follow
from tests.fakes_mastodon import DOMAIN, FakeMastodon, account
from tests.sources_support import MemoryOutput, connection, serving

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Shapes close to a Jetstream message, so the fuzzing reaches past the first check.
keys = st.sampled_from(
    [
        "did",
        "time_us",
        "kind",
        "commit",
        "operation",
        "collection",
        "rkey",
        "record",
        "subject",
        "cid",
        "reply",
    ]
)
near_messages = st.recursive(
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(
        [
            "commit",
            "create",
            "delete",
            "update",
            "app.bsky.graph.follow",
            "app.bsky.feed.post",
            "did:plc:alice",
        ]
    ),
    lambda inner: st.dictionaries(keys, inner, max_size=6),
    max_leaves=15,
)
follows_of_alice = st.builds(
    follow,
    st.sampled_from(["did:plc:a", "", "did:plc:alice"]),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.text(max_size=5),
    st.just("did:plc:alice"),
)
messages = st.one_of(
    st.text(max_size=40),
    json_values.map(json.dumps),
    near_messages.map(json.dumps),
    follows_of_alice.map(json.dumps),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=8))
def test_no_firehose_message_stops_the_stream(junk: list[str]) -> None:
    output = MemoryOutput()
    config = BlueskyConfig(
        accounts=[BlueskyAccount(employee_id="e1", did="did:plc:alice")], jetstream="ws://unused"
    )
    connector = JetstreamConnector(config, connection("bluesky", output))
    skipped = CONNECTOR_SKIPPED.labels("bluesky")._value.get()
    for data in junk:
        connector._handle(data)
    connector._handle(
        json.dumps(follow("did:plc:fan", 1_764_000_000_000_000, "k1", "did:plc:alice"))
    )
    asyncio.run(connector._flush())
    follows = [e for e in output.events if isinstance(e, Follow)]
    assert follows[-1].follower_id == "did:plc:fan"
    assert CONNECTOR_SKIPPED.labels("bluesky")._value.get() >= skipped


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values | near_messages, min_size=1, max_size=3))
def test_a_hostile_follower_list_fails_its_own_account_only(items: list[Any]) -> None:
    bob = account("2", "bob")
    instance = FakeMastodon(
        accounts={"1": account("1", "alice"), "2": bob},
        followers={"1": items, "2": [account("30", "carol@other.social")]},
    )
    output = MemoryOutput()

    async def go() -> None:
        async with serving(instance.app()) as url:
            instance.base_url = url
            config = MastodonConfig(
                accounts=[
                    MastodonAccount(employee_id="e1", acct=f"alice@{DOMAIN}", instance=url),
                    MastodonAccount(employee_id="e2", acct=f"bob@{DOMAIN}", instance=url),
                ]
            )
            async with ApiClient("mastodon", backoff=0.01, attempts=2) as api:
                try:
                    await MastodonConnector(config, connection("mastodon", output), api).run()
                except AccountsFailed as exc:
                    assert "alice" in str(exc) and "bob@" not in str(exc)

    asyncio.run(go())
    bobs = {(e.account_id, e.follower_id) for e in output.events if isinstance(e, Follow)}
    assert (f"bob@{DOMAIN}", "carol@other.social") in bobs
