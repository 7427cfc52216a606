"""`chorus bench audience`: the dedup graph at the measured scale.

A synthetic company generated directly with numpy (the simulator would take
minutes at this size): employees in audience clusters, follower accounts that
mostly follow colleagues of one cluster on their own network, about 4 M follow
edges over 1.5 M accounts, 20 % of accounts in multi-account persons, and
LinkedIn as a stats-only network (count + 10 % sample). Figures: median
incremental cost per follow and per identity link, the full rebuild (every
event through `apply`), the first full snapshot after the rebuild (nothing to
reuse), a steady-state snapshot after `--changes` further follow changes (the
overlap product and clusters may be reused, see `pipeline.audience.metrics`),
peak RSS, and a plain networkx from-scratch distinct-persons count for
comparison. Times are wall clock; on a shared machine the CPU times (`*_cpu_s`)
beside them are the steadier comparison.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import networkx as nx
import numpy as np
from msgspec.structs import replace

from pipeline.audience import AudienceGraph
from schemas.events import AccountStats, Employee, EmployeeAccount, Follow, IdentityLink

FULL_NETWORKS = ("x", "mastodon", "bluesky")
SLOTS = (*FULL_NETWORKS, "linkedin")  # an account is employee * 4 + its network's slot
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Company:
    """Follow edges and identity links as arrays; events are made on demand."""

    def __init__(self, employees: int, edges: int, accounts: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.employees = employees
        clusters = max(1, employees // 200)
        self.cluster = rng.integers(0, clusters, employees)
        # Every employee is on x; some also on mastodon, bluesky, linkedin (stats only).
        self.on_network = {
            "x": np.ones(employees, dtype=bool),
            "mastodon": rng.random(employees) < 0.4,
            "bluesky": rng.random(employees) < 0.3,
            "linkedin": rng.random(employees) < 0.6,
        }
        follower_network = rng.choice(len(FULL_NETWORKS), accounts, p=[0.6, 0.25, 0.15])
        home = rng.integers(0, clusters, accounts)
        # Oversampled: popular employees draw repeats, which the dedup below removes.
        degree = rng.geometric(min(1.0, accounts / (edges * 1.4)), accounts)
        follower = np.repeat(np.arange(accounts), degree)
        network = follower_network[follower]
        target_cluster = np.where(
            rng.random(len(follower)) < 0.8,
            home[follower],
            rng.integers(0, clusters, len(follower)),
        )
        employee = np.empty(len(follower), dtype=np.int64)
        for n, name in enumerate(FULL_NETWORKS):
            for c in range(clusters):
                pool = np.flatnonzero(self.on_network[name] & (self.cluster == c))
                if not len(pool):
                    pool = np.flatnonzero(self.on_network[name])
                chosen = (network == n) & (target_cluster == c)
                # Popular employees: a Zipf-like pick inside the pool.
                rank = np.minimum(rng.pareto(1.2, np.count_nonzero(chosen)), len(pool) - 1)
                employee[chosen] = pool[rank.astype(np.int64)]
        pairs = np.unique(np.stack([follower, employee * 4 + network]), axis=1)
        self.follower, self.target = pairs[0], pairs[1]  # target: employee * 4 + network
        # 20 % of the accounts belong to persons with 2-3 accounts: link them in chains.
        linked = rng.permutation(accounts)[: accounts // 5]
        sizes = rng.choice([2, 3], len(linked))
        group_of = np.repeat(np.arange(len(linked)), sizes)[: len(linked)]
        same = group_of[1:] == group_of[:-1]
        self.link_a, self.link_b = linked[:-1][same], linked[1:][same]
        self.accounts = accounts
        self.rng = rng
        # What a decoded event carries: made once, outside the timed loops.
        self.pseudonyms = [f"p{account:032x}" for account in range(accounts)]
        self.account_ids = [
            f"e{target // 4:05d}@{SLOTS[target % 4]}" for target in range(employees * 4)
        ]

    def roster(self) -> list[Employee]:
        return [
            Employee(
                event_id=f"emp{e}",
                occurred_at=T0,
                employee_id=f"e{e:05d}",
                department=f"dept{self.cluster[e] % 12}",
                region=f"region{e % 5}",
                active=True,
                accounts=[
                    EmployeeAccount(n, f"e{e:05d}@{n}", f"staff-{n}-{e}")
                    for n, on in self.on_network.items()
                    if on[e]
                ],
            )
            for e in range(self.employees)
        ]

    def follow(self, follower: int, target: int) -> Follow:
        return Follow(
            event_id="f",
            occurred_at=T0,
            network=FULL_NETWORKS[target % 4],
            account_id=self.account_ids[target],
            follower_id=self.pseudonyms[follower],
            action="follow",
        )

    def link(self, a: int, b: int) -> IdentityLink:
        return IdentityLink(
            event_id="l",
            occurred_at=T0,
            network_a="x",
            account_a=self.pseudonyms[a],
            network_b="x",
            account_b=self.pseudonyms[b],
            evidence="bench",
            confidence=0.9,
        )

    def stats(self) -> list[AccountStats]:
        """LinkedIn: counts like the other networks, a 10 % sample (max 200) of known and new ids."""
        events = []
        for e in np.flatnonzero(self.on_network["linkedin"]):
            count = int(self.rng.lognormal(5.0, 0.8))
            size = min(200, count // 10)
            known = self.rng.integers(0, self.accounts, size).tolist()
            new = self.rng.random(size) < 0.5
            sample = [
                f"new{e}-{k}" if fresh else self.pseudonyms[k]
                for k, fresh in zip(known, new, strict=True)
            ]
            events.append(
                AccountStats(
                    event_id=f"s{e}",
                    occurred_at=T0,
                    network="linkedin",
                    account_id=f"e{e:05d}@linkedin",
                    followers_count=count,
                    follower_sample=sample,
                )
            )
        return events


def _timed(graph: AudienceGraph, events: list[Any]) -> tuple[float, float]:
    """(median µs per event, total s) of applying `events` one by one."""
    costs = []
    clock = time.perf_counter_ns
    for event in events:
        start = clock()
        graph.apply(event)
        costs.append(clock() - start)
    return statistics.median(costs) / 1000, sum(costs) / 1e9


def _networkx_persons(company: Company) -> int:
    """The plain way, from the edges: follower sets, their union, networkx components.

    What a from-scratch snapshot does without the incremental graph: the same
    pseudonyms the events carry, each account's follower set, the union over
    the (all active) employee accounts, a graph of those accounts and the
    links, and the components that hold a follower.
    """
    followers_of: dict[str, set[str]] = defaultdict(set)
    pseudonyms, account_ids = company.pseudonyms, company.account_ids
    for follower, target in zip(company.follower.tolist(), company.target.tolist(), strict=True):
        followers_of[account_ids[target]].add(pseudonyms[follower])
    audience: set[str] = set().union(*followers_of.values())
    graph = nx.Graph()
    graph.add_nodes_from(audience)
    graph.add_edges_from(
        (pseudonyms[a], pseudonyms[b])
        for a, b in zip(company.link_a.tolist(), company.link_b.tolist(), strict=True)
    )
    return sum(1 for c in nx.connected_components(graph) if not c.isdisjoint(audience))


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench audience")
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=4_000_000)
    parser.add_argument("--accounts", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--probes", type=int, default=20_000, help="follows and links timed one by one"
    )
    parser.add_argument(
        "--changes", type=int, default=10_000, help="unfollows before the steady-state snapshot"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    company = Company(args.employees, args.edges, args.accounts, args.seed)
    generated = time.perf_counter() - started
    probes = args.probes  # the last follows and links, timed one by one

    gc.collect()
    gc.freeze()  # the graph's millions of long-lived objects need no cyclic GC passes
    graph = AudienceGraph()
    started = time.perf_counter()
    for employee in company.roster():
        graph.apply(employee)
    for stats in company.stats():
        graph.apply(stats)
    apply, follow, link = graph.apply, company.follow, company.link
    followers, targets = company.follower.tolist(), company.target.tolist()
    firsts, seconds = company.link_a.tolist(), company.link_b.tolist()
    for f, t in zip(followers[:-probes], targets[:-probes], strict=True):
        apply(follow(f, t))
    for a, b in zip(firsts[:-probes], seconds[:-probes], strict=True):
        apply(link(a, b))
    rebuild = time.perf_counter() - started
    follows = [follow(f, t) for f, t in zip(followers[-probes:], targets[-probes:], strict=True)]
    links = [link(a, b) for a, b in zip(firsts[-probes:], seconds[-probes:], strict=True)]
    follow_us, follows_s = _timed(graph, follows)
    link_us, links_s = _timed(graph, links)
    rebuild += follows_s + links_s  # the timed probes are part of the rebuild
    unfollows = [replace(event, action="unfollow") for event in follows[: probes // 5]]
    unfollow_us, _ = _timed(graph, unfollows)
    for again in follows[: probes // 5]:  # back to every edge, as the networkx count has them
        apply(again)
    started, cpu = time.perf_counter(), time.process_time()
    rows = graph.snapshot("bench", T0)
    snapshot_first = time.perf_counter() - started
    snapshot_first_cpu = time.process_time() - cpu
    # Steady state: distinct random edges unfollowed (and followed back afterwards,
    # so that the graph again holds every edge the networkx count sees).
    changed = company.rng.choice(len(followers), args.changes, replace=False).tolist()
    for edge in changed:
        apply(replace(follow(followers[edge], targets[edge]), action="unfollow"))
    started, cpu = time.perf_counter(), time.process_time()
    steady_rows = graph.snapshot("bench-steady", T0)
    snapshot_steady = time.perf_counter() - started
    snapshot_steady_cpu = time.process_time() - cpu
    steady_persons = graph.distinct_persons
    for edge in changed:
        apply(follow(followers[edge], targets[edge]))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    networkx_persons = _networkx_persons(company)
    networkx_seconds = time.perf_counter() - started
    networkx_cpu = time.process_time() - cpu
    company_row = rows[0]
    assert graph.distinct_persons == networkx_persons, "the engine disagrees with networkx"
    assert getattr(company_row, "distinct_persons", None) == networkx_persons
    assert getattr(steady_rows[0], "distinct_persons", None) == steady_persons
    return {
        "employees": args.employees,
        "follow_edges": len(company.follower),
        "follower_accounts": len(np.unique(company.follower)),
        "identity_links": len(company.link_a),
        "generate_s": round(generated, 2),
        "follow_median_us": round(follow_us, 2),
        "unfollow_median_us": round(unfollow_us, 2),
        "identity_link_median_us": round(link_us, 2),
        "rebuild_s": round(rebuild, 2),
        "snapshot_first_s": round(snapshot_first, 2),
        "snapshot_first_cpu_s": round(snapshot_first_cpu, 2),
        "snapshot_steady_s": round(snapshot_steady, 2),
        "snapshot_steady_cpu_s": round(snapshot_steady_cpu, 2),
        "steady_follow_changes": args.changes,
        "snapshot_rows": len(rows),
        "peak_rss_mb": round(peak_rss_mb),
        "networkx_from_scratch_s": round(networkx_seconds, 2),
        "networkx_from_scratch_cpu_s": round(networkx_cpu, 2),
        "first_snapshot_speedup_vs_networkx": round(networkx_seconds / snapshot_first, 1),
        "steady_snapshot_speedup_vs_networkx": round(networkx_seconds / snapshot_steady, 1),
        "first_snapshot_cpu_speedup_vs_networkx": round(networkx_cpu / snapshot_first_cpu, 1),
        "steady_snapshot_cpu_speedup_vs_networkx": round(networkx_cpu / snapshot_steady_cpu, 1),
        "distinct_persons": getattr(company_row, "distinct_persons", None),
        "networkx_distinct_persons": networkx_persons,
    }
