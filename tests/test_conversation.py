"""The conversation metrics (sql/0009, pipeline/warehouse/conversation.py) on hand-made cases,
on current ClickHouse (chdb) and on the local 18.16 server alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline import warehouse
from pipeline.warehouse.conversation import active_ambassadors_by_day, conversation, data_end
from schemas.events import Employee, EmployeeAccount, Engagement, Post
from schemas.metrics import AccountPerson
from tests.test_warehouse import Engine, chdb_engine, engine  # noqa: F401 - the fixtures

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def roster() -> list[Employee]:
    def employee(employee_id: str, department: str, *accounts: tuple[str, str]) -> Employee:
        return Employee(
            event_id=f"r-{employee_id}",
            occurred_at=T0 - timedelta(days=60),
            employee_id=employee_id,
            department=department,
            region="EMEA",
            active=True,
            accounts=[EmployeeAccount(n, a, pseudonym=a) for n, a in accounts],
        )

    return [
        employee("e1", "Sales", ("mastodon", "alice@m"), ("bluesky", "did:alice")),
        employee("e2", "Engineering", ("mastodon", "bob@m")),
    ]


def post(post_id: str, employee: str, at: datetime, author: str | None = None) -> Post:
    account = {"e1": "alice@m", "e2": "bob@m"}[employee]
    return Post(
        event_id=f"ev-{post_id}",
        occurred_at=at,
        post_id=post_id,
        employee_id=employee,
        network="mastodon",
        account_id=account,
        text="hello",
        kind="reply" if author else "original",
        in_reply_to=f"their-{post_id}" if author else None,
        in_reply_to_author=author,
    )


def engaged(number: int, post_id: str, actor: str, kind: str, at: datetime) -> Engagement:
    return Engagement(
        event_id=f"g{number}",
        occurred_at=at,
        post_id=post_id,
        network="mastodon" if not actor.startswith("did:") else "bluesky",
        actor_id=actor,
        kind=kind,  # type: ignore[arg-type]
    )


def facts() -> list[object]:
    return [
        *roster(),
        post("p1", "e1", T0),
        engaged(1, "p1", "carol", "comment", T0 + HOUR),
        post("re-carol", "e1", T0 + HOUR + 23 * HOUR, author="carol"),  # 23 h: answered
        engaged(2, "p1", "dave", "comment", T0 + 2 * HOUR),
        post("re-dave", "e1", T0 + 2 * HOUR + 25 * HOUR, author="dave"),  # 25 h: too late
        engaged(3, "p1", "bob@m", "comment", T0 + 3 * HOUR),  # a colleague: not audience
        engaged(4, "p1", "erin@m", "like", T0 + 4 * HOUR),
        engaged(5, "p1", "did:erin", "like", T0 + 5 * HOUR),  # the same person on Bluesky
        engaged(5, "p1", "did:erin", "like", T0 + 5 * HOUR),  # a replayed copy
        post("p2", "e1", T0 + 6 * HOUR, author="frank"),  # answers someone outside
        post("p3", "e2", T0 + 7 * HOUR, author="alice@m"),  # answers a colleague
        post("p4", "e1", T0 + 8 * HOUR, author="bob-home"),  # a colleague's personal account
        AccountPerson(
            snapshot_id="s1", taken_at=T0, account="bob-home", person="bob-home", colleague=True
        ),
        *(
            AccountPerson(snapshot_id="s1", taken_at=T0, account=a, person="erin", colleague=False)
            for a in ("erin@m", "did:erin")
        ),
    ]


@pytest.fixture
def stored(engine: Engine) -> Engine:  # noqa: F811 - the fixture of that name
    warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
    engine.insert(facts())
    return engine


def test_every_metric_on_hand_made_facts(stored: Engine) -> None:
    end = data_end(stored.run)
    assert end == T0 + 2 * HOUR + 25 * HOUR + timedelta(seconds=1)
    scopes = conversation(stored.run, end, days=7)
    company = scopes["company"]
    assert (company.posts, company.replies_outside) == (6, 3)  # not the replies to colleagues
    assert (company.comments, company.answered) == (2, 1)  # 23 h counts, 25 h does not
    assert company.median_response_seconds == 23 * 3600
    assert company.response_buckets == (0, 0, 0, 1)
    assert company.engagements == 5  # every engagement event once, colleagues included
    assert company.engaged_persons == 3  # carol, dave, erin (two networks, one person)
    assert (company.likes, company.shares, company.clicks) == (2, 0, 0)
    assert (company.ambassadors, company.active_ambassadors) == (2, 2)
    assert company.conversation_share == pytest.approx(3 / 6)
    assert company.response_rate == pytest.approx(1 / 2)

    sales, engineering = scopes["department:Sales"], scopes["department:Engineering"]
    assert (sales.posts, sales.replies_outside, sales.comments) == (5, 3, 2)
    assert (engineering.posts, engineering.replies_outside, engineering.comments) == (1, 0, 0)
    bluesky = scopes["network:bluesky"]
    assert (bluesky.ambassadors, bluesky.active_ambassadors) == (1, 0)
    assert scopes["employee:e1"].engaged_persons == 3


def test_a_window_counts_what_happened_in_it(stored: Engine) -> None:
    end = T0 + 2 * HOUR + timedelta(minutes=30)  # before any reply
    company = conversation(stored.run, end, days=1)["company"]
    # The window's comments; whether they were answered is read from all the data.
    assert (company.posts, company.comments, company.answered) == (1, 2, 1)
    series = active_ambassadors_by_day(stored.run, T0 + timedelta(days=3), days=3)
    assert [(active, of) for _, active, of in series] == [(2, 2), (2, 2), (2, 2)]


def test_the_audience_sends_the_persons_of_linked_accounts_when_they_change() -> None:
    import asyncio

    from pipeline.audience.live import LiveAudience
    from schemas.events import IdentityLink

    def link(a: str, b: str, confidence: float, at: datetime) -> IdentityLink:
        return IdentityLink(
            event_id=f"l-{a}-{b}-{confidence}",
            occurred_at=at,
            network_a="x",
            account_a=a,
            network_b="mastodon",
            account_b=b,
            evidence="test",
            confidence=confidence,
        )

    live = LiveAudience(link_threshold=0.5)

    async def snapshot(*events: object) -> list[tuple[str, str, bool]]:
        async def read_all(apply: object) -> int:
            return 0

        await live.ensure_built(read_all)  # type: ignore[arg-type]
        live.apply_all(list(events))  # type: ignore[arg-type]
        rows = await live.snapshot()
        return [(r.account, r.person, r.colleague) for r in rows if isinstance(r, AccountPerson)]

    async def story() -> None:
        assert await snapshot(*roster(), link("zed", "amy", 0.9, T0)) == [
            ("amy", "amy", False),
            ("zed", "amy", False),
        ]
        # The colleague's account joins them: all three are now a colleague.
        assert await snapshot(link("zed", "bob@m", 0.9, T0)) == [
            ("amy", "amy", True),
            ("bob@m", "amy", True),
            ("zed", "amy", True),
        ]
        # Unlinked: each is a person of its own again (only the changes are sent).
        assert await snapshot(
            link("zed", "amy", 0.1, T0 + HOUR), link("zed", "bob@m", 0.1, T0 + HOUR)
        ) == [("amy", "amy", False), ("bob@m", "bob@m", False), ("zed", "zed", False)]
        assert await snapshot(post("p9", "e1", T0 + 2 * HOUR)) == []

    asyncio.run(story())


def test_earned_media_value_prices_persons_and_the_naive_sum_alike() -> None:
    from pipeline.conversation import earned_media_value, prices
    from schemas.metrics import ScopeMetrics

    def network(name: str, persons: float, naive: int) -> ScopeMetrics:
        return ScopeMetrics(
            snapshot_id="s",
            taken_at=T0,
            scope_kind="network",
            scope=name,
            employees=1,
            naive_reach=naive,
            distinct_accounts=int(persons),
            distinct_persons=int(persons),
            estimated_persons=persons,
            ci_low=persons,
            ci_high=persons,
        )

    cpm, cpc = prices("*=10, linkedin=40"), prices("*=1,linkedin=4")
    assert cpm == {"*": 10.0, "linkedin": 40.0}
    value = earned_media_value(
        [network("linkedin", 1000, 3000), network("x", 2000, 2000)],
        {"linkedin": 5},
        cpm,
        cpc,
        "EUR",
    )
    assert value.deduplicated == pytest.approx(1000 * 40 / 1000 + 5 * 4 + 2000 * 10 / 1000)
    assert value.naive == pytest.approx(3000 * 40 / 1000 + 5 * 4 + 2000 * 10 / 1000)
    with pytest.raises(ValueError, match="x=cheap"):
        prices("x=cheap")


def test_the_leaderboard_ranks_by_exclusive_reach_then_conversation() -> None:
    from pipeline.conversation import Conversation, leaderboard
    from schemas.metrics import EmployeeReach

    def reach(employee_id: str, exclusive: int, followers: int) -> EmployeeReach:
        return EmployeeReach(
            snapshot_id="s",
            taken_at=T0,
            employee_id=employee_id,
            department="Sales",
            region="EMEA",
            naive_followers=followers,
            followers=followers,
            exclusive_followers=exclusive,
            cluster=-1,
            top_overlaps=[],
        )

    talk = {
        "employee:b": Conversation("employee:b", posts=10, replies_outside=5),
        "employee:c": Conversation("employee:c", posts=10, replies_outside=1),
    }
    ranked = leaderboard([reach("a", 5, 9000), reach("b", 50, 100), reach("c", 50, 200)], talk)
    assert [leader.employee_id for leader in ranked] == ["b", "c", "a"]  # not by followers


def test_the_conversation_headline_says_it_in_two_lines() -> None:
    from pipeline.conversation import Conversation, headline

    company = Conversation(
        "company",
        posts=200,
        replies_outside=50,
        comments=40,
        answered=30,
        median_response_seconds=3 * 3600,
        engagements=900,
        engaged_persons=400,
        ambassadors=20,
        active_ambassadors=15,
    )
    assert headline(company, 10_000, 30) == [
        "Conversation (30 days): 25% of 200 posts answer someone outside; 75% of 40 comments "
        "answered within 24 h (median 3.0 h).",
        "Engaged community: 400 distinct persons (4.0% of the true community) behind 900 "
        "engagements; 15 of 20 ambassadors posted.",
    ]


@pytest.mark.clickhouse
def test_the_commands_tell_the_conversation(clickhouse: Any) -> None:
    import json
    import os

    from click.testing import CliRunner

    from pipeline.cli.main import cli
    from schemas.metrics import EmployeeReach, ScopeMetrics
    from tests.test_warehouse import ServerEngine

    def scope(kind: str, name: str, persons: int) -> ScopeMetrics:
        return ScopeMetrics(
            snapshot_id="s1",
            taken_at=T0,
            scope_kind=kind,  # type: ignore[arg-type]
            scope=name,
            employees=2,
            naive_reach=persons * 2,
            distinct_accounts=persons,
            distinct_persons=persons,
            estimated_persons=float(persons),
            ci_low=float(persons),
            ci_high=float(persons),
        )

    def reach(employee_id: str, exclusive: int) -> EmployeeReach:
        return EmployeeReach(
            snapshot_id="s1",
            taken_at=T0,
            employee_id=employee_id,
            department="Sales",
            region="EMEA",
            naive_followers=10,
            followers=10,
            exclusive_followers=exclusive,
            cluster=-1,
            top_overlaps=[],
        )

    server = ServerEngine(clickhouse)
    warehouse.Migrator(server.run, warehouse.load_migrations()).migrate()
    snapshot = [scope("company", "", 100), scope("network", "mastodon", 100)]
    server.insert([*facts(), *snapshot, reach("e1", 7), reach("e2", 9)])
    env = {**os.environ, "CHORUS_CLICKHOUSE_DATABASE": server.database}
    report = CliRunner().invoke(cli, ["audience", "report"], env=env)
    assert report.exit_code == 0, report.output
    lines = report.output.splitlines()
    assert lines[1].startswith("True community 100 persons")
    assert lines[2].startswith("Conversation (30 days): 50% of 6 posts answer someone outside")
    assert lines[3].startswith("Engaged community: 3 distinct persons (3.0% of the true community)")

    talk = CliRunner().invoke(cli, ["audience", "conversation", "--json"], env=env)
    assert talk.exit_code == 0, talk.output
    document = json.loads(talk.output)
    assert document["scopes"]["company"]["answered"] == 1
    assert [leader["employee_id"] for leader in document["leaderboard"]] == ["e2", "e1"]
    value = document["earned_media_value"]
    assert value["naive"] > value["deduplicated"] > 0
