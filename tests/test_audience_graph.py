"""The incremental graph against a from-scratch recomputation (networkx, plain sets)."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import networkx as nx
import pytest

from pipeline.audience import AudienceGraph, metrics
from pipeline.audience.estimate import OverlapFactor
from pipeline.audience.frame import Frame
from pipeline.audience.view import LiveAccount
from schemas.events import (
    AccountStats,
    AnyEvent,
    Employee,
    EmployeeAccount,
    Follow,
    IdentityLink,
    Post,
)
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, ScopeMetrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FULL_NETWORKS = ("x", "mastodon")
FACEBOOK = Path("/work/shared/data/snap-ego-facebook/facebook_combined.txt")


class Stream:
    """Builds normalised events with increasing timestamps."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.clock = 0

    def _meta(self) -> dict[str, object]:
        self.clock += 1
        return {"event_id": f"e{self.clock}", "occurred_at": T0 + timedelta(seconds=self.clock)}

    def employee(
        self, eid: str, department: str, region: str, active: bool, networks: tuple[str, ...]
    ) -> None:
        accounts = [EmployeeAccount(n, f"{eid}@{n}", f"emp-{n}-{eid}") for n in networks]
        self.events.append(
            Employee(
                **self._meta(),  # type: ignore[arg-type]
                employee_id=eid,
                department=department,
                region=region,
                active=active,
                accounts=accounts,
            )
        )

    def follow(self, network: str, eid: str, follower: str, action: str = "follow") -> None:
        """`follower` is a pseudonym: per network, as ingest makes them (`x:f1`, `emp-x-a`)."""
        self.events.append(
            Follow(
                **self._meta(),  # type: ignore[arg-type]
                network=network,
                account_id=f"{eid}@{network}",
                follower_id=follower,
                action=action,  # type: ignore[arg-type]
            )
        )

    def link(self, a: str, b: str, confidence: float, at: int | None = None) -> None:
        meta = self._meta()
        if at is not None:
            meta["occurred_at"] = T0 + timedelta(seconds=at)
        self.events.append(
            IdentityLink(
                **meta,  # type: ignore[arg-type]
                network_a="x",
                account_a=a,
                network_b="x",
                account_b=b,
                evidence="test",
                confidence=confidence,
            )
        )

    def stats(self, network: str, eid: str, count: int, sample: list[str]) -> None:
        self.events.append(
            AccountStats(
                **self._meta(),  # type: ignore[arg-type]
                network=network,
                account_id=f"{eid}@{network}",
                followers_count=count,
                follower_sample=sample,
            )
        )

    def post(self, post_id: str, eid: str, campaign: str | None) -> None:
        self.events.append(
            Post(
                **self._meta(),  # type: ignore[arg-type]
                post_id=post_id,
                employee_id=eid,
                network="x",
                account_id=f"{eid}@x",
                text="hello",
                campaign_id=campaign,
            )
        )


@dataclass
class Reference:
    """Every metric recomputed from the final state, the obvious way."""

    scopes: dict[tuple[str, str], tuple[int, int, int, int]]  # employees, naive, accounts, persons
    employees: dict[str, tuple[int, int, int]]  # naive, followers, exclusive
    campaigns: dict[str, tuple[int, int, int, int]]  # relaying, posts, naive, persons


def reference(events: list[AnyEvent], threshold: float = 0.5) -> Reference:
    roster: dict[str, Employee] = {}
    follows: dict[tuple[str, str], set[str]] = defaultdict(set)
    links: dict[frozenset[str], IdentityLink] = {}
    stats: dict[tuple[str, str], AccountStats] = {}
    posts: dict[str, Post] = {}
    for event in events:
        match event:
            case Employee() if (
                event.employee_id not in roster
                or event.occurred_at >= roster[event.employee_id].occurred_at
            ):
                roster[event.employee_id] = event
            case Follow() if event.action == "follow":
                follows[(event.network, event.account_id)].add(event.follower_id)
            case Follow():
                follows[(event.network, event.account_id)].discard(event.follower_id)
            case IdentityLink():
                pair = frozenset((event.account_a, event.account_b))
                if pair not in links or event.occurred_at >= links[pair].occurred_at:
                    links[pair] = event
            case AccountStats():
                stats[(event.network, event.account_id)] = event
            case Post():
                posts[event.post_id] = event
    staff = {a.pseudonym for e in roster.values() for a in e.accounts}
    active = [e for e in roster.values() if e.active]
    graph = nx.Graph()
    graph.add_nodes_from(f for s in follows.values() for f in s)
    graph.add_edges_from(
        tuple(pair)
        for pair, link in links.items()
        if link.confidence >= threshold and len(pair) == 2
    )
    person: dict[str, int] = {}
    for number, component in enumerate(nx.connected_components(graph)):
        if not component & staff:
            person.update(dict.fromkeys(component, number))

    def audience(employees: list[Employee], network: str | None = None) -> tuple[int, set, set]:
        naive, listed = 0, set()
        for e in employees:
            for a in e.accounts:
                if network is None or a.network == network:
                    key = (a.network, a.account_id)
                    naive += stats[key].followers_count if key in stats else len(follows[key])
                    listed |= follows[key]
        return naive, listed - staff, {person[f] for f in listed if f in person}

    scopes = {}
    groups: dict[tuple[str, str], list[Employee]] = defaultdict(list)
    for e in active:
        groups[("company", "")].append(e)
        groups[("department", e.department)].append(e)
        groups[("region", e.region)].append(e)
    for key, members in groups.items():
        naive, accounts, persons = audience(members)
        scopes[key] = (len(members), naive, len(accounts), len(persons))
    for network in {a.network for e in active for a in e.accounts}:
        members = [e for e in active if any(a.network == network for a in e.accounts)]
        naive, accounts, persons = audience(members, network)
        scopes[("network", network)] = (len(members), naive, len(accounts), len(persons))
    reach = {e.employee_id: audience([e]) for e in active}
    employees = {}
    for eid, (naive, _, persons) in reach.items():
        others = set().union(*(p for other, (_, _, p) in reach.items() if other != eid))
        employees[eid] = (naive, len(persons), len(persons - others))
    campaigns = {}
    by_campaign: dict[str, list[Post]] = defaultdict(list)
    for post in posts.values():
        if post.campaign_id:
            by_campaign[post.campaign_id].append(post)
    for campaign, relayed in by_campaign.items():
        relays = {p.employee_id for p in relayed if p.employee_id in reach}
        naive, _, persons = audience([roster[r] for r in relays])
        campaigns[campaign] = (len(relays), len(relayed), naive, len(persons))
    return Reference(scopes, employees, campaigns)


def check(graph: AudienceGraph, events: list[AnyEvent], threshold: float = 0.5) -> None:
    expected = reference(events, threshold)
    rows = graph.snapshot("s", T0)
    scopes = {
        (r.scope_kind, r.scope): (
            r.employees,
            r.naive_reach,
            r.distinct_accounts,
            r.distinct_persons,
        )
        for r in rows
        if isinstance(r, ScopeMetrics)
    }
    assert scopes == expected.scopes
    company = expected.scopes.get(("company", ""), (0, 0, 0, 0))
    assert (graph.distinct_accounts, graph.distinct_persons) == company[2:]
    employees = {
        r.employee_id: (r.naive_followers, r.followers, r.exclusive_followers)
        for r in rows
        if isinstance(r, EmployeeReach)
    }
    assert employees == expected.employees
    campaigns = {
        r.campaign_id: (r.relaying_employees, r.posts, r.naive_reach, r.distinct_persons)
        for r in rows
        if isinstance(r, CampaignReach)
    }
    assert campaigns == expected.campaigns


def random_company(seed: int, employees: int = 12, people: int = 80) -> Stream:
    """A small company whose stream exercises every kind of change."""
    rng = random.Random(seed)
    stream = Stream()
    ids = [f"emp{i}" for i in range(employees)]
    for eid in ids:
        stream.employee(eid, rng.choice("AB"), rng.choice("NS"), True, FULL_NETWORKS)
    followers = [f"{n}:f{i}" for i in range(people) for n in FULL_NETWORKS]
    staff = [f"emp-{n}-{eid}" for eid in ids for n in FULL_NETWORKS]
    for _ in range(people * 4):
        network, eid = rng.choice(FULL_NETWORKS), rng.choice(ids)
        colleague = f"emp-{network}-{rng.choice(ids)}"
        who = f"{network}:f{rng.randrange(people)}" if rng.random() < 0.9 else colleague
        stream.follow(network, eid, who)
    for _ in range(people):
        stream.link(rng.choice(followers), rng.choice(followers), rng.random())
    stream.link(rng.choice(followers), rng.choice(staff), 0.9)
    for i in range(6):
        stream.post(f"post{i}", rng.choice(ids), rng.choice(["c1", "c2", None]))
    return stream


def replay(events: list[AnyEvent], graph: AudienceGraph | None = None) -> AudienceGraph:
    graph = graph or AudienceGraph()
    for event in events:
        graph.apply(event)
    return graph


@pytest.mark.parametrize("seed", range(5))
def test_counts_equal_a_recomputation_as_the_stream_goes(seed: int) -> None:
    stream = random_company(seed)
    rng = random.Random(seed)
    graph = replay(stream.events)
    check(graph, stream.events)
    ids = [f"emp{i}" for i in range(12)]
    for round_ in range(4):
        for _ in range(15):  # unfollows
            follow = rng.choice([e for e in stream.events if isinstance(e, Follow)])
            stream.follow(
                follow.network, follow.account_id.split("@")[0], follow.follower_id, "unfollow"
            )
        victim = rng.choice(ids)  # deactivation, then a department move of another
        stream.employee(victim, "A", "N", False, FULL_NETWORKS)
        mover = rng.choice(ids)
        stream.employee(
            mover, f"D{round_}", rng.choice("NS"), True, FULL_NETWORKS[: 1 + round_ % 2]
        )
        links = [e for e in stream.events if isinstance(e, IdentityLink)]
        for link in rng.sample(links, 5):  # late links up and down
            stream.link(link.account_a, link.account_b, 1.0 - link.confidence)
        stream.link(f"x:f{rng.randrange(80)}", f"mastodon:f{rng.randrange(80)}", 0.8)
        replay(stream.events[-24:], graph)
        check(graph, stream.events)


def test_link_removal_splits_a_person_and_excludes_only_what_is_linked_to_staff() -> None:
    stream = Stream()
    stream.employee("a", "A", "N", True, ("x",))
    stream.employee("b", "A", "N", True, ("x",))
    for follower in ("x:f1", "x:f2", "x:f3"):
        stream.follow("x", "a", follower)
    stream.follow("x", "b", "x:f3")
    stream.follow("x", "b", "emp-x-a")  # a colleague follows: never audience
    stream.link("x:f1", "x:f2", 0.9)
    stream.link("x:f2", "x:f3", 0.9)
    graph = replay(stream.events)
    assert (graph.distinct_accounts, graph.distinct_persons) == (3, 1)
    check(graph, stream.events)
    stream.link("x:f2", "x:f3", 0.2)  # a later, weaker link for the same pair removes it
    graph.apply(stream.events[-1])
    assert (graph.distinct_accounts, graph.distinct_persons) == (3, 2)
    check(graph, stream.events)
    stream.link("x:f3", "emp-x-b", 0.7)  # f3 is b's personal account: a colleague, not audience
    graph.apply(stream.events[-1])
    assert (graph.distinct_accounts, graph.distinct_persons) == (3, 1)
    check(graph, stream.events)
    stream.link("x:f1", "x:f2", 0.95, at=0)  # older than the stored link for the pair: ignored
    graph.apply(stream.events[-1])
    check(graph, stream.events)
    stream.employee("b", "A", "N", False, ("x",))  # inactive staff still are not audience
    graph.apply(stream.events[-1])
    assert (graph.distinct_accounts, graph.distinct_persons) == (3, 1)
    check(graph, stream.events)


def test_replaying_a_suffix_or_reading_topics_in_another_order_changes_nothing() -> None:
    stream = random_company(7)
    stream.employee("emp3", "A", "N", False, FULL_NETWORKS)
    stream.stats("linkedin", "emp1", 120, ["linkedin:f1", "linkedin:f2", "emp-x-emp2"])
    graph = replay(stream.events)
    first = graph.snapshot("s", T0)
    for start in (0, len(stream.events) // 2, len(stream.events) - 5):
        replay(stream.events[start:], graph)
        assert graph.snapshot("s", T0) == first
    # After a restart the agent re-reads each topic from the start, in any interleaving.
    by_type: dict[type, list[AnyEvent]] = defaultdict(list)
    for event in stream.events:
        by_type[type(event)].append(event)
    for order in ([Follow, IdentityLink, Employee], [IdentityLink, Employee, Follow]):
        restarted = AudienceGraph()
        for kind in [*order, AccountStats, Post]:
            replay(by_type[kind], restarted)
        assert restarted.snapshot("s", T0) == first


def test_threshold_is_configurable() -> None:
    stream = random_company(3)
    for threshold in (0.3, 0.8):
        graph = replay(stream.events, AudienceGraph(link_threshold=threshold))
        check(graph, stream.events, threshold)


def test_coverage_curve_is_greedy_and_reaches_everyone() -> None:
    stream = Stream()
    for eid in "abc":
        stream.employee(eid, "A", "N", True, ("x",))
    for follower in ("1", "2", "3", "4"):
        stream.follow("x", "a", follower)
    for follower in ("4", "5"):
        stream.follow("x", "b", follower)
    stream.follow("x", "c", "1")
    rows = replay(stream.events).snapshot("s", T0)
    curve = [
        (r.employee_id, r.new_persons, r.cumulative_share)
        for r in rows
        if isinstance(r, CoveragePoint)
    ]
    assert curve == [("a", 4, 0.8), ("b", 1, 1.0)]
    reach = {r.employee_id: r for r in rows if isinstance(r, EmployeeReach)}
    assert reach["a"].top_overlaps == [("b", 1), ("c", 1)]
    assert (reach["a"].exclusive_followers, reach["c"].exclusive_followers) == (2, 0)


def test_facebook_friendships_equal_a_plain_set_union() -> None:
    """Real overlapping audiences: random nodes are employees, their friends follow them."""
    friends: dict[str, set[str]] = defaultdict(set)
    for line in FACEBOOK.read_text().splitlines():
        a, b = line.split()
        friends[a].add(b)
        friends[b].add(a)
    rng = random.Random(5)
    chosen = rng.sample(sorted(friends), 250)
    stream = Stream()
    for eid in chosen:
        stream.employee(eid, "A", "N", True, ("facebook",))
        for friend in friends[eid]:
            stream.follow("facebook", eid, f"fb{friend}")
    graph = replay(stream.events)
    union = set().union(*(friends[eid] for eid in chosen))
    assert graph.distinct_persons == graph.distinct_accounts == len(union)
    company = next(r for r in graph.snapshot("s", T0) if isinstance(r, ScopeMetrics))
    assert company.distinct_persons == len(union)
    assert company.naive_reach == sum(len(friends[eid]) for eid in chosen)


def test_an_employee_with_two_accounts_on_one_network_counts_a_follower_once() -> None:
    stream = Stream()
    stream.employee("a", "A", "N", True, ("x",))
    stream.events.append(
        msgspec.structs.replace(
            stream.events[-1],
            accounts=[
                EmployeeAccount("x", "a@x", "emp-x-a"),
                EmployeeAccount("x", "a2", "emp-x-a2"),
            ],
        )
    )
    stream.employee("b", "A", "N", True, ("x",))
    for follower in ("x:f1", "x:f2"):
        stream.follow("x", "a", follower)
        stream.events.append(msgspec.structs.replace(stream.events[-1], account_id="a2"))
    stream.follow("x", "b", "x:f2")
    graph = replay(stream.events)
    check(graph, stream.events)
    reach = {r.employee_id: r for r in graph.snapshot("s", T0) if isinstance(r, EmployeeReach)}
    assert (reach["a"].followers, reach["a"].exclusive_followers, reach["a"].naive_followers) == (
        2,
        1,
        4,
    )


@pytest.mark.parametrize("seed", range(3))
def test_overlap_factors_and_top_overlaps_equal_a_plain_recomputation(seed: int) -> None:
    """Persons on two networks, stats-only accounts with and without a list, by plain sets."""
    rng = random.Random(seed)
    stream = Stream()
    ids = [f"emp{i:02d}" for i in range(14)]
    networks = ("x", "mastodon", "linkedin")
    for eid in ids:
        stream.employee(eid, rng.choice("AB"), rng.choice("NS"), True, networks)
    for _ in range(500):
        network, eid = rng.choice(networks), rng.choice(ids)
        stream.follow(network, eid, f"{network}:f{rng.randrange(90)}")
    for _ in range(60):  # a person on x and mastodon, or two accounts on one network
        a, b = rng.sample(("x", "mastodon", "x"), 2)
        stream.link(f"{a}:f{rng.randrange(90)}", f"{b}:f{rng.randrange(90)}", 0.9)
    for eid in ids:  # linkedin is stats-only, and so is one list on x
        stream.stats("linkedin", eid, 50, [f"linkedin:f{rng.randrange(120)}" for _ in range(8)])
    stream.stats("x", ids[0], 40, ["x:f1", "x:f2", "x:new"])
    graph = replay(stream.events)
    view = graph.view()
    frame = Frame(view)
    edges = list(zip(view.edge_node, view.edge_account, strict=True))

    def persons(account: LiveAccount) -> set[int]:
        labels = {view.person[node] for node, slot in edges if slot == account.slot and node >= 0}
        return {label for label in labels if not view.colleagues[label]}

    mixed = None
    for kind in metrics._scope_kinds(frame):
        scopes = len(kind.names)
        reach = metrics._Reach.of(
            frame, kind.of_account if scopes > 1 else None, (0, scopes, scopes)
        )
        mixed = mixed or metrics._Mixed.of(frame, reach)
        for plain in (False, True):
            expected = {}
            for scope in range(scopes):
                lists = [
                    (account.network, persons(account))
                    for account, of in zip(frame.accounts, kind.of_account.tolist(), strict=True)
                    if of == scope and account.stats is None
                ]
                distinct, incidences = [], []
                for network in frame.networks:
                    if network not in {n for n, _ in lists}:
                        continue
                    others = set().union(*(p for n, p in lists if n != network))
                    own = [p if plain else p - others for n, p in lists if n == network]
                    distinct.append(len(set().union(*own)))
                    incidences.append(sum(map(len, own)))
                if distinct:
                    expected[scope] = OverlapFactor.from_networks(distinct, incidences)
            got = metrics._overlap_factors(frame, kind.of_account, reach, mixed, plain=plain)
            assert got == expected, (kind.kind, plain)

    audience = {
        eid: set().union(*(persons(a) for a in frame.accounts if a.owner == eid)) for eid in ids
    }
    for row in graph.snapshot("s", T0):
        if isinstance(row, EmployeeReach):
            shared = [(-len(audience[row.employee_id] & audience[o]), o) for o in ids]
            top = sorted((s, o) for s, o in shared if s and o != row.employee_id)[:5]
            assert row.top_overlaps == [(o, -s) for s, o in top]
