"""The Mastodon connector against a loopback instance speaking the documented API (tests/fakes_mastodon.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest

from pipeline.observability import CONNECTOR_RATE_LIMIT_WAIT, CONNECTOR_REQUESTS
from pipeline.sources.config import MastodonAccount, MastodonConfig
from pipeline.sources.http import ApiClient
from pipeline.sources.mastodon import MastodonConnector, plain_text
from pipeline.sources.run import AccountsFailed, Connection
from schemas.events import Engagement, Event, Follow, IdentityLink, Post
from tests.fakes_mastodon import DOMAIN, FakeMastodon, account, status, verified
from tests.sources_support import Killed, MemoryCheckpoints, MemoryOutput, connection, serving

ALICE = account("1", "alice")
THIRD_PARTY = account("9001", "dana@other.social")


def follower(i: int) -> dict:
    acct = f"f{i}" if i < 150 else f"r{i}@other.social"
    fields = []
    if i == 7:
        fields = [verified("https://bsky.app/profile/did:plc:seven")]
    elif i == 8:
        fields = [verified("https://www.eight.example.org/")]
    elif i == 9:
        fields = [{**verified("https://bsky.app/profile/did:plc:nine"), "verified_at": None}]
    return account(str(1000 + i), acct, fields)


FOLLOWERS = [follower(i) for i in range(200)]


def make_instance() -> FakeMastodon:
    statuses = []
    for i in range(100, 145):
        if i == 110:
            statuses.append(status(i, ALICE, "<p>agreed!</p>", reply_to=(5000, THIRD_PARTY)))
        elif i == 120:
            boosted = status(4000, THIRD_PARTY, "<p>big news</p>")
            statuses.append(status(i, ALICE, "", reblog=boosted))
        elif i == 144:
            statuses.append(
                status(
                    i,
                    ALICE,
                    "<p>Launch day<br>at last &amp; more</p>",
                    favourited_by=[FOLLOWERS[1], FOLLOWERS[2]],
                    reblogged_by=[FOLLOWERS[160]],
                )
            )
        else:
            statuses.append(status(i, ALICE, f"<p>post {i}</p>"))
    statuses.reverse()  # newest first, as the API lists them
    replies = {
        "144": [
            {**status(146, FOLLOWERS[3], "<p>congrats</p>", reply_to=(144, ALICE))},
            {**status(147, ALICE, "<p>thanks!</p>", reply_to=(146, FOLLOWERS[3]))},
        ]
    }
    for reply in replies["144"]:
        reply["replies_count"] = 0
    statuses[0]["replies_count"] = 1
    return FakeMastodon(
        accounts={"1": ALICE, "9001": THIRD_PARTY},
        followers={"1": list(FOLLOWERS)},
        statuses={"1": statuses},
        replies=replies,
    )


def run(
    instance: FakeMastodon,
    conn: Connection,
    client: Callable[[], ApiClient] = lambda: ApiClient("mastodon", backoff=0.01),
) -> None:
    async def go() -> None:
        async with serving(instance.app()) as url:
            instance.base_url = url
            config = MastodonConfig(
                accounts=[MastodonAccount(employee_id="e1", acct=f"alice@{DOMAIN}", instance=url)]
            )
            async with client() as api:
                await MastodonConnector(config, conn, api).run()

    asyncio.run(go())


def with_bluesky_claim() -> MemoryCheckpoints:
    """The Bluesky connector has seen a follower whose handle is eight.example.org."""
    claim = msgspec.msgpack.encode({"bluesky": "did:plc:eight"})
    return MemoryCheckpoints({"identity/domain/eight.example.org": claim})


def follow_state(events: list[Event]) -> set[tuple[str, str]]:
    edges: dict[tuple[str, str], str] = {}
    for event in events:
        if isinstance(event, Follow):
            edges[(event.account_id, event.follower_id)] = event.action
    return {edge for edge, action in edges.items() if action == "follow"}


def clean_run() -> MemoryOutput:
    output = MemoryOutput()
    run(make_instance(), connection("mastodon", output, with_bluesky_claim()))
    return output


def test_a_run_gives_the_documented_events() -> None:
    events = clean_run().events
    alice = f"alice@{DOMAIN}"
    expected_followers = {f"f{i}@{DOMAIN}" if i < 150 else f"r{i}@other.social" for i in range(200)}
    assert follow_state(events) == {(alice, f) for f in expected_followers}

    posts = {event.post_id: event for event in events if isinstance(event, Post)}
    host = next(iter(posts)).split("/")[0]
    assert len(posts) == 45
    reply, boost, launch = posts[f"{host}/110"], posts[f"{host}/120"], posts[f"{host}/144"]
    assert (reply.kind, reply.in_reply_to, reply.in_reply_to_author) == (
        "reply",
        f"{host}/5000",
        "dana@other.social",
    )
    assert (boost.kind, boost.text) == ("repost", "big news")
    assert (launch.kind, launch.text, launch.employee_id) == (
        "original",
        "Launch day\nat last & more",
        "e1",
    )

    engagement = {(e.post_id, e.kind, e.actor_id) for e in events if isinstance(e, Engagement)}
    assert engagement == {
        (f"{host}/144", "like", f"f1@{DOMAIN}"),
        (f"{host}/144", "like", f"f2@{DOMAIN}"),
        (f"{host}/144", "share", "r160@other.social"),
        (f"{host}/144", "comment", f"f3@{DOMAIN}"),
    }

    links = {
        (e.account_a, e.account_b, e.confidence) for e in events if isinstance(e, IdentityLink)
    }
    # did:… sorts before f…@…: the pair is ordered by (network, account).
    assert links == {
        ("did:plc:eight", f"f8@{DOMAIN}", 0.95),
        ("did:plc:seven", f"f7@{DOMAIN}", 0.9),
    }
    assert len({event.event_id for event in events}) == len(events)


def test_a_second_run_sends_only_what_changed() -> None:
    instance, output, checkpoints = make_instance(), MemoryOutput(), with_bluesky_claim()
    run(instance, connection("mastodon", output, checkpoints))
    first = len(output.events)

    run(instance, connection("mastodon", output, checkpoints))  # overlapping: nothing changed
    assert len(output.events) == first

    instance.followers["1"] = [*FOLLOWERS[1:], account("77", "new@other.social")]
    instance.statuses["1"].insert(0, status(145, ALICE, "<p>one more</p>"))
    launch = next(s for s in instance.statuses["1"] if s["id"] == "144")
    launch["_favourited_by"].append(FOLLOWERS[5])  # a late like on an older post
    launch["favourites_count"] += 1
    seen = set(output.ids())
    run(instance, connection("mastodon", output, checkpoints))
    new = [e for e in output.events[first:] if e.event_id not in seen]
    assert sorted(
        (type(e).__name__, getattr(e, "action", getattr(e, "kind", ""))) for e in new
    ) == [
        ("Engagement", "like"),
        ("Follow", "follow"),
        ("Follow", "unfollow"),
        ("Post", "original"),
    ]
    assert {e.follower_id for e in new if isinstance(e, Follow)} == {
        "new@other.social",
        f"f0@{DOMAIN}",
    }


@pytest.mark.parametrize("kill_after", [1, 60, 200, 230, 247])
def test_a_killed_run_resumes_to_the_same_events(kill_after: int) -> None:
    expected = set(clean_run().ids())
    instance, checkpoints = make_instance(), with_bluesky_claim()
    killed = MemoryOutput(kill_after=kill_after)
    with pytest.raises(Killed):
        run(instance, connection("mastodon", killed, checkpoints))
    resumed = MemoryOutput()
    run(instance, connection("mastodon", resumed, checkpoints))
    assert set(killed.ids()) | set(resumed.ids()) == expected
    assert follow_state(killed.events + resumed.events) == follow_state(clean_run().events)


def test_a_list_that_moved_between_a_kill_and_the_resume_leaves_no_half_sent_change() -> None:
    instance, checkpoints = make_instance(), MemoryCheckpoints()
    killed = MemoryOutput(kill_after=100)  # half of the first list's follows went out
    with pytest.raises(Killed):
        run(instance, connection("mastodon", killed, checkpoints))
    # Followers that were sent leave before the resume; the resume must undo them.
    instance.followers["1"] = FOLLOWERS[100:]
    resumed = MemoryOutput()
    run(instance, connection("mastodon", resumed, checkpoints))
    alice = f"alice@{DOMAIN}"
    truth = {
        (alice, f"f{i}@{DOMAIN}" if i < 150 else f"r{i}@other.social") for i in range(100, 200)
    }
    assert follow_state(killed.events + resumed.events) == truth


def test_rate_limits_errors_and_slowness_change_nothing_but_the_time() -> None:
    expected = clean_run().ids()
    instance = make_instance()
    instance.faults = ["limit", "429", "503", "slow", "ok", "limit", "503"]
    instance.slow_seconds = 1.5
    waited = CONNECTOR_RATE_LIMIT_WAIT.labels("mastodon")._value.get()
    output = MemoryOutput()
    run(
        instance,
        connection("mastodon", output, with_bluesky_claim()),
        lambda: ApiClient("mastodon", timeout=1.0, backoff=0.01),
    )
    assert output.ids() == expected
    assert CONNECTOR_RATE_LIMIT_WAIT.labels("mastodon")._value.get() - waited >= 1.5
    assert CONNECTOR_REQUESTS.labels("mastodon", "429")._value.get() >= 1
    assert CONNECTOR_REQUESTS.labels("mastodon", "timeout")._value.get() >= 1


def test_an_unknown_account_is_a_clear_error() -> None:
    instance = make_instance()
    instance.accounts = {}

    with pytest.raises(AccountsFailed, match=r"accounts/lookup.*404"):
        run(instance, connection("mastodon"))


def test_plain_text_is_what_a_reader_sees() -> None:
    html = '<p>Hi <a href="https://x.y/">@bob</a><br>line two</p><p>next &lt;3</p>'
    assert plain_text(html) == "Hi @bob\nline two\n\nnext <3"
