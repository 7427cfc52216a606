"""The Bluesky connectors against a loopback AppView and Jetstream (tests/fakes_bluesky.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from pipeline.observability import (
    CONNECTOR_FIREHOSE_LAG,
    CONNECTOR_RATE_LIMIT_WAIT,
    CONNECTOR_REQUESTS,
)
from pipeline.sources.bluesky import BlueskyConnector
from pipeline.sources.config import BlueskyAccount, BlueskyConfig
from pipeline.sources.http import ApiClient
from pipeline.sources.jetstream import JetstreamConnector
from pipeline.sources.run import AccountsFailed, Connection
from schemas.events import Engagement, Event, Follow, IdentityLink, Post
from tests.fakes_bluesky import (
    FakeAppView,
    FakeJetstream,
    commit,
    delete,
    feed_item,
    follow,
    identity,
    jetstream,
    like,
    post_view,
    profile,
    record,
    uri_of,
)
from tests.sources_support import Killed, MemoryCheckpoints, MemoryOutput, connection, serving

ALICE, BOB = "did:plc:alice", "did:plc:bob"  # employees e1, e2
DANA = "did:plc:dana"  # a third party whose posts Alice answers and reposts
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ACCOUNTS = [
    BlueskyAccount(employee_id="e1", did=ALICE),
    BlueskyAccount(employee_id="e2", did=BOB),
]


def fan(i: int) -> str:
    return f"did:plc:fan{i}"


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def make_appview() -> FakeAppView:
    """Alice: 8 followers (one with a domain handle, one unverified), a feed of 9 items."""
    handles = {3: "fan.example.org", 4: "handle.invalid"}
    dana_post = post_view(DANA, "d1", "big news", hour(-5))
    alice = [
        feed_item(post_view(ALICE, "a1", "first", hour(1))),
        feed_item(post_view(ALICE, "a2", "agreed!", hour(2), reply_to=uri_of(DANA, "d0"))),
        feed_item(post_view(DANA, "d2", "a reply to alice in her feed", hour(2.5))),  # skipped
        feed_item(post_view(ALICE, "a3", "third", hour(3))),
        feed_item(dana_post, reposted=(ALICE, hour(4))),
        feed_item(post_view(ALICE, "a4", "fourth", hour(5))),
        feed_item(post_view(ALICE, "a5", "@bob well said", hour(6), reply_to=uri_of(BOB, "b1"))),
        feed_item(post_view(ALICE, "a6", "sixth", hour(7))),
        feed_item(post_view(ALICE, "a7", "Launch day", hour(8))),
    ]
    alice.reverse()  # newest first, as the feed lists them
    launch = uri_of(ALICE, "a7")
    return FakeAppView(
        followers={
            ALICE: [profile(fan(i), handles.get(i)) for i in range(8)],
            BOB: [profile(fan(8)), profile(fan(9))],
        },
        feeds={ALICE: alice, BOB: [feed_item(post_view(BOB, "b1", "hello", hour(0)))]},
        likes={launch: [like(fan(i), hour(9)) for i in (1, 2, 10, 11)]},
        reposted_by={launch: [profile(fan(5))]},
        replies={
            launch: [
                post_view(fan(6), "r1", "congrats", hour(9), reply_to=launch),
                post_view(ALICE, "r2", "thanks!", hour(9.5), reply_to=launch),
            ]
        },
    )


def with_mastodon_claim() -> MemoryCheckpoints:
    """The Mastodon connector has seen fan.example.org verified by fan3@example.social."""
    claim = msgspec.msgpack.encode({"mastodon": "fan3@example.social"})
    return MemoryCheckpoints({"identity/domain/fan.example.org": claim})


def run(
    appview: FakeAppView,
    conn: Connection,
    client: Callable[[], ApiClient] = lambda: ApiClient("bluesky", backoff=0.01),
    **settings: object,
) -> None:
    async def go() -> None:
        async with serving(appview.app()) as url:
            config = BlueskyConfig(accounts=ACCOUNTS, service=url, engagement_posts=3)
            for name, value in settings.items():
                setattr(config, name, value)
            async with client() as api:
                await BlueskyConnector(config, conn, api).run()

    asyncio.run(go())


def clean_run() -> MemoryOutput:
    output = MemoryOutput()
    run(make_appview(), connection("bluesky", output, with_mastodon_claim()))
    return output


def by_id(events: list[Event]) -> dict[str, Event]:
    return {event.event_id: event for event in events}


def test_a_run_gives_the_documented_events() -> None:
    checkpoints = with_mastodon_claim()
    output = MemoryOutput()
    run(make_appview(), connection("bluesky", output, checkpoints))
    events = output.events
    assert len(by_id(events)) == len(events)

    follows = {(e.account_id, e.follower_id) for e in events if isinstance(e, Follow)}
    assert follows == {(ALICE, fan(i)) for i in range(8)} | {(BOB, fan(8)), (BOB, fan(9))}

    posts = {e.post_id: e for e in events if isinstance(e, Post)}
    repost_id = f"repost:{ALICE}:{uri_of(DANA, 'd1')}"
    assert set(posts) == {uri_of(ALICE, f"a{i}") for i in range(1, 8)} | {
        repost_id,
        uri_of(BOB, "b1"),
    }
    reply, repost, launch = posts[uri_of(ALICE, "a5")], posts[repost_id], posts[uri_of(ALICE, "a7")]
    assert (reply.kind, reply.in_reply_to, reply.in_reply_to_author) == (
        "reply",
        uri_of(BOB, "b1"),
        BOB,
    )
    assert (repost.kind, repost.text, repost.account_id, repost.occurred_at) == (
        "repost",
        "big news",
        ALICE,
        hour(4),
    )
    assert (launch.kind, launch.text, launch.lang, launch.employee_id, launch.occurred_at) == (
        "original",
        "Launch day",
        "en",
        "e1",
        hour(8),
    )
    assert launch.url == "https://bsky.app/profile/did:plc:alice/post/a7"

    engagement = {(e.post_id, e.kind, e.actor_id) for e in events if isinstance(e, Engagement)}
    launch_uri = uri_of(ALICE, "a7")
    assert engagement == {
        *((launch_uri, "like", fan(i)) for i in (1, 2, 10, 11)),  # two pages of likes
        (launch_uri, "share", fan(5)),
        (launch_uri, "comment", fan(6)),  # not Alice's own answer, not the deleted reply
    }

    # fan3's handle is a domain it proved: claimed for Bluesky, linked to the Mastodon claim.
    claims = msgspec.msgpack.decode(checkpoints.values["identity/domain/fan.example.org"])
    assert claims == {"mastodon": "fan3@example.social", "bluesky": fan(3)}
    assert not any("handle.invalid" in key or "bsky.social" in key for key in checkpoints.values)
    links = [e for e in events if isinstance(e, IdentityLink)]
    assert [(e.account_a, e.account_b, e.confidence) for e in links] == [
        (fan(3), "fan3@example.social", 0.95)
    ]


def test_a_second_overlapping_run_sends_only_what_changed() -> None:
    appview, output, checkpoints = make_appview(), MemoryOutput(), with_mastodon_claim()
    run(appview, connection("bluesky", output, checkpoints))
    first = set(output.ids())
    feed_reads = sum("getAuthorFeed" in path for path in appview.requests)

    appview.requests.clear()
    run(appview, connection("bluesky", output, checkpoints))  # nothing changed
    assert set(output.ids()) == first  # re-sent within the overlap, under the same ids
    # It stopped paging at what the first run read (feed of Alice: 3 pages, then 2).
    assert sum("getAuthorFeed" in path for path in appview.requests) < feed_reads

    appview.followers[ALICE] = [*appview.followers[ALICE][1:], profile("did:plc:new")]
    appview.feeds[ALICE].insert(0, feed_item(post_view(ALICE, "a8", "one more", hour(10))))
    run(appview, connection("bluesky", output, checkpoints))
    new = [event for event in by_id(output.events).values() if event.event_id not in first]
    assert sorted((type(e).__name__, getattr(e, "action", "")) for e in new) == [
        ("Follow", "follow"),
        ("Follow", "unfollow"),
        ("Post", ""),
    ]
    assert {e.follower_id for e in new if isinstance(e, Follow)} == {"did:plc:new", fan(0)}


def test_a_first_run_reads_back_to_posts_since_only() -> None:
    appview, output = make_appview(), MemoryOutput()
    run(appview, connection("bluesky", output), posts_since=hour(5.5))
    posts = {e.post_id for e in output.events if isinstance(e, Post)}
    assert posts == {uri_of(ALICE, "a5"), uri_of(ALICE, "a6"), uri_of(ALICE, "a7")}
    assert sum("getAuthorFeed" in path for path in appview.requests) == 2 + 1  # Alice, Bob


def test_a_killed_run_resumes_to_the_same_events_wherever_it_was_killed() -> None:
    expected = by_id(clean_run().events)
    for kill_after in range(1, len(expected)):
        appview, checkpoints = make_appview(), with_mastodon_claim()
        killed = MemoryOutput(kill_after=kill_after)
        with pytest.raises(Killed):
            run(appview, connection("bluesky", killed, checkpoints))
        resumed = MemoryOutput()
        run(appview, connection("bluesky", resumed, checkpoints))
        assert by_id(killed.events + resumed.events) == expected, kill_after


def test_rate_limits_errors_and_slowness_change_nothing_but_the_time() -> None:
    expected = clean_run().ids()
    appview = make_appview()
    appview.faults = ["limit", "429", "503", "slow", "ok", "limit", "503"]
    appview.slow_seconds = 1.0
    waited = CONNECTOR_RATE_LIMIT_WAIT.labels("bluesky")._value.get()
    before = {
        outcome: CONNECTOR_REQUESTS.labels("bluesky", outcome)._value.get()
        for outcome in ("429", "5xx", "timeout")
    }
    output = MemoryOutput()
    run(
        appview,
        connection("bluesky", output, with_mastodon_claim()),
        lambda: ApiClient("bluesky", timeout=0.5, backoff=0.01),
    )
    assert output.ids() == expected
    assert appview.faults == []
    assert CONNECTOR_RATE_LIMIT_WAIT.labels("bluesky")._value.get() - waited >= 1.0
    for outcome, count in before.items():
        assert CONNECTOR_REQUESTS.labels("bluesky", outcome)._value.get() > count, outcome


def test_an_account_that_fails_leaves_the_others_read() -> None:
    expected = {e.event_id for e in clean_run().events if getattr(e, "account_id", "") == ALICE}
    appview = make_appview()
    del appview.followers[BOB]  # the AppView no longer knows Bob: a 400
    output = MemoryOutput()
    with pytest.raises(AccountsFailed, match=r"did:plc:bob.*getFollowers.*400"):
        run(appview, connection("bluesky", output, with_mastodon_claim()))
    assert expected <= set(output.ids())
    assert not any(getattr(e, "account_id", "") == BOB for e in output.events)


# Jetstream

US = 1_000_000
START = 1_790_000_000 * US  # time_us of the first scripted message
MARGIN = 1.5  # resume_margin_seconds: a resume replays a message or two


def at(second: int) -> int:
    return START + second * US


def stream(
    fake: FakeJetstream, conn: Connection, until: Callable[[], bool], batch: int = 500
) -> None:
    """Run a JetstreamConnector on `fake` until `until()`, then stop it."""

    async def go() -> None:
        async with jetstream(fake) as url:
            config = BlueskyConfig(accounts=ACCOUNTS, jetstream=url, resume_margin_seconds=MARGIN)
            connector = JetstreamConnector(
                config,
                conn,
                batch=batch,
                flush_seconds=0.05,
                reconnect_delays=lambda: itertools.repeat(0.05),
            )
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            async with asyncio.timeout(5):
                while not until():
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.01)
            stop.set()
            await task

    asyncio.run(go())


def saved_cursor(conn: Connection) -> int | None:
    return conn.read("jetstream/cursor", int)


def script() -> list[dict]:
    """Follows, unfollows and posts, with what Jetstream carries that is none of them."""
    launch = uri_of(ALICE, "j1")
    return [
        follow(fan(1), at(0), "f1", ALICE),
        follow(fan(2), at(1), "f2", "did:plc:someone"),  # not an employee: ignored
        identity(fan(3), at(2)),
        commit_post(ALICE, at(3), "j1", "live launch"),
        commit_post(fan(4), at(4), "r1", "congrats", reply_to=launch),  # a comment
        commit_post(fan(4), at(5), "r2", "elsewhere", reply_to=uri_of(DANA, "d1")),  # nothing
        commit_post(BOB, at(6), "j2", "nice one alice", reply_to=launch),  # a post and a comment
        follow(fan(5), at(7), "f5", BOB),
        delete(fan(1), at(8), "app.bsky.graph.follow", "f1"),  # unfollow
        delete(fan(2), at(9), "app.bsky.graph.follow", "f2"),  # of nothing kept: ignored
        {"did": fan(6), "time_us": at(10), "kind": "account", "account": {"active": False}},
        commit_post(fan(7), at(11), "bad", "no createdAt", created=None),  # malformed: skipped
        follow(fan(8), at(12), "f8", ALICE),
    ]


def commit_post(
    did: str,
    time_us: int,
    rkey: str,
    text: str,
    reply_to: str | None = None,
    created: datetime | None = T0,
) -> dict:
    body = record(text, created or T0, reply_to)
    if created is None:
        del body["createdAt"]
    return commit(did, time_us, "app.bsky.feed.post", rkey, body)


def summary(events: list[Event]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for event in events:
        if isinstance(event, Follow):
            rows.append((event.action, event.account_id, event.follower_id))
        elif isinstance(event, Post):
            rows.append(("post", event.post_id, event.kind or ""))
        elif isinstance(event, Engagement):
            rows.append((event.kind, event.post_id, event.actor_id))
    return rows


EXPECTED = [
    ("follow", ALICE, fan(1)),
    ("post", uri_of(ALICE, "j1"), "original"),
    ("comment", uri_of(ALICE, "j1"), fan(4)),
    ("post", uri_of(BOB, "j2"), "reply"),
    ("comment", uri_of(ALICE, "j1"), BOB),
    ("follow", BOB, fan(5)),
    ("unfollow", ALICE, fan(1)),
    ("follow", ALICE, fan(8)),
]


def clean_stream(fake: FakeJetstream, checkpoints: MemoryCheckpoints | None = None) -> MemoryOutput:
    """The whole script, read and saved through (cursor at its last message)."""
    output = MemoryOutput()
    conn = connection("bluesky", output, checkpoints)
    stream(fake, conn, lambda: saved_cursor(conn) == at(12))
    return output


def test_jetstream_gives_follows_unfollows_posts_and_comments() -> None:
    fake, checkpoints = FakeJetstream(script()), MemoryCheckpoints()
    output = clean_stream(fake, checkpoints)
    assert summary(output.events) == EXPECTED
    unfollow = next(e for e in output.events if isinstance(e, Follow) and e.action == "unfollow")
    assert unfollow.occurred_at == datetime.fromtimestamp(at(8) / US, UTC)
    # The follow map keeps the follows of employees still standing, and nothing else.
    assert {key for key in checkpoints.values if "/follows/" in key} == {
        f"bluesky/jetstream/follows/{fan(5)}/f5",
        f"bluesky/jetstream/follows/{fan(8)}/f8",
    }
    assert fake.connections[0]["wantedCollections"] == [
        "app.bsky.graph.follow",
        "app.bsky.feed.post",
    ]
    assert "cursor" not in fake.connections[0]
    lag = connection("bluesky").now().timestamp() - at(12) / US
    assert CONNECTOR_FIREHOSE_LAG._value.get() == pytest.approx(lag)


def test_a_dropped_connection_resumes_from_the_cursor_without_loss() -> None:
    fake = FakeJetstream(script(), drop_after=5)
    output = clean_stream(fake)
    assert len(fake.connections) == 2
    # From the last message read before the drop, less the margin.
    resumed_from = int(fake.connections[1]["cursor"][0])
    assert resumed_from + round(MARGIN * US) in {at(second) for second in range(5)}
    assert by_id(output.events) == by_id(clean_stream(FakeJetstream(script())).events)


def test_a_killed_stream_resumes_to_the_same_events_wherever_it_was_killed() -> None:
    expected = by_id(clean_stream(FakeJetstream(script())).events)
    for kill_after in range(1, len(EXPECTED)):
        checkpoints = MemoryCheckpoints()
        killed = MemoryOutput(kill_after=kill_after)
        conn = connection("bluesky", killed, checkpoints)
        with pytest.raises(Killed):  # batches of 3 events: the kill falls inside one
            stream(FakeJetstream(script()), conn, lambda: False, batch=3)
        resumed = clean_stream(FakeJetstream(script()), checkpoints)
        assert by_id(killed.events + resumed.events) == expected, kill_after


def test_a_restart_resumes_from_the_saved_cursor_and_knows_the_follows_it_kept() -> None:
    checkpoints = MemoryCheckpoints()
    fake = FakeJetstream(script()[:8])  # up to Bob's new follower (at 7)
    first = MemoryOutput()
    conn = connection("bluesky", first, checkpoints)
    stream(fake, conn, lambda: saved_cursor(conn) == at(7))
    assert summary(first.events) == EXPECTED[:6]

    fake.messages += [
        delete(fan(5), at(20), "app.bsky.graph.follow", "f5"),
        delete(fan(1), at(21), "app.bsky.graph.follow", "f1"),
    ]
    second = MemoryOutput()
    conn = connection("bluesky", second, checkpoints)
    stream(fake, conn, lambda: saved_cursor(conn) == at(21))
    assert fake.connections[-1]["cursor"] == [str(at(7) - round(MARGIN * US))]
    # Replayed from the margin: Bob's follow again (same id); then both unfollows.
    assert set(second.ids()) - set(first.ids()) == {
        e.event_id for e in second.events if isinstance(e, Follow) and e.action == "unfollow"
    }
    assert summary(second.events)[-2:] == [("unfollow", BOB, fan(5)), ("unfollow", ALICE, fan(1))]
    assert not any("/follows/" in key for key in checkpoints.values)


def test_the_api_and_the_firehose_name_a_post_and_its_comments_alike() -> None:
    launch = uri_of(ALICE, "j1")
    view = post_view(ALICE, "j1", "live launch", T0)
    appview = FakeAppView(
        followers={ALICE: [], BOB: []},
        feeds={ALICE: [feed_item(view)]},
        replies={launch: [post_view(fan(4), "r1", "congrats", T0, reply_to=launch)]},
    )
    from_api = MemoryOutput()
    run(appview, connection("bluesky", from_api))

    fake = FakeJetstream(script()[:5])
    fake.messages[3]["commit"]["record"] = view["record"]
    fake.messages[4]["commit"]["record"] = appview.replies[launch][0]["record"]
    from_firehose = MemoryOutput()
    conn = connection("bluesky", from_firehose)
    stream(fake, conn, lambda: saved_cursor(conn) == at(4))
    api_events = [e for e in from_api.events if isinstance(e, Post | Engagement)]
    firehose_events = [e for e in from_firehose.events if isinstance(e, Post | Engagement)]
    assert len(api_events) == 2
    assert api_events == firehose_events
