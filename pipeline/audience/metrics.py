"""A snapshot of the graph: every metric of every scope, as `schemas.metrics` rows.

The graph keeps only what must be live (the company's counts); a snapshot reads
its follower lists and person labels once into numpy arrays and derives the
rest with vectorised set operations: a scope's distinct persons are the marks
left in one boolean array by its accounts' followers, so no scope costs a sort.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
from scipy import sparse

from pipeline.audience.estimate import (
    Estimate,
    OverlapFactor,
    SampledAccount,
    estimate_persons,
)
from schemas.events import Employee
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, MetricRow, ScopeMetrics

if TYPE_CHECKING:  # the graph calls `snapshot`; only its types are needed here
    from pipeline.audience.graph import AudienceGraph, EmployeeAccountState

# (employee, shared persons) pairs kept per employee: reported, and the edges of
# the cluster graph (Louvain in networkx costs ~1 s per 50,000 edges).
TOP_OVERLAPS = 5
CLUSTER_SEED = 20_260_101  # Louvain is randomised: a fixed seed keeps snapshots comparable


@dataclass(slots=True)
class _Account:
    state: EmployeeAccountState
    owner: int  # index into the active employees
    persons: np.ndarray  # distinct audience person labels of the complete follower list
    followers: np.ndarray  # follower nodes of the complete list, employee accounts left out
    sampled: SampledAccount | None = None  # a stats-only account's sample, as persons

    @property
    def complete(self) -> bool:
        return self.sampled is None


class _Frame:
    """The graph's state as arrays, read once per snapshot.

    Follow edges of live accounts become one array grouped by employee, then by
    account. A person appears twice in one account's list only through two
    linked accounts, so only edges to multi-account persons go through the
    (sorting) dedup; per employee also every edge of an employee with two
    accounts on one network (pseudonyms are per network, see ingest).
    """

    def __init__(self, graph: AudienceGraph) -> None:
        self.component = np.asarray(graph.component, dtype=np.int64)
        size = len(self.component)
        self.audience_label = np.asarray(graph.component_employees, dtype=np.int64) == 0
        shared_label = np.zeros(size, dtype=bool)
        shared_label[list(graph.members)] = True
        self.employees: list[Employee] = graph.active_employees()
        index = {e.employee_id: i for i, e in enumerate(self.employees)}
        states = sorted(graph.live_accounts(), key=lambda state: index[state.owner or ""])
        owners = np.array([index[state.owner or ""] for state in states], dtype=np.int64)
        lengths = [len(state.followers) for state in states]
        nodes = np.fromiter(
            itertools.chain.from_iterable(state.followers for state in states),
            dtype=np.int64,
            count=sum(lengths),
        )
        account_of = np.repeat(np.arange(len(states)), lengths)
        staff = np.zeros(size, dtype=bool)
        staff[list(graph.employee_listings)] = True
        audience_accounts = ~staff[nodes]
        followers, follower_account = nodes[audience_accounts], account_of[audience_accounts]
        audience = self.audience_label[self.component[nodes]]
        persons, account_of = self.component[nodes[audience]], account_of[audience]
        shared = shared_label[persons]
        once_per_account = _first_pairs(account_of, persons, shared, size)
        # Follower ids are per network: one account follows two of an employee's
        # accounts only if the employee has two on one network.
        same_network = np.zeros(len(self.employees), dtype=bool)
        seen: set[tuple[int, str]] = set()
        for owner, state in zip(owners.tolist(), states, strict=True):
            if (owner, state.network) in seen:
                same_network[owner] = True
            seen.add((owner, state.network))
        employee_of = owners[account_of]
        once_per_employee = _first_pairs(
            employee_of, persons, shared | same_network[employee_of], size
        )
        self.accounts = [
            _Account(state, int(owner), account_persons, followers)
            for state, owner, account_persons, followers in zip(
                states,
                owners,
                _split(persons[once_per_account], account_of[once_per_account], len(states)),
                _split(followers, follower_account, len(states)),
                strict=True,
            )
        ]
        # Per active employee: the distinct persons following any of their accounts.
        self.employee_persons = _split(
            persons[once_per_employee], employee_of[once_per_employee], len(self.employees)
        )
        self.naive = [0] * len(self.employees)  # per employee: sum of their accounts' counts
        for account in self.accounts:
            self.naive[account.owner] += account.state.naive_followers
        self.node_marks = np.zeros(size, dtype=bool)
        self.person_marks = np.zeros(size, dtype=bool)
        self.network_counts = np.zeros(size, dtype=np.int32)

        for account in self.accounts:
            if account.state.stats is not None:
                labels = self.component[np.asarray(account.state.sample, dtype=np.int64)]
                audience = self.audience_label[labels]
                account.sampled = SampledAccount(
                    account.state.stats.followers_count,
                    labels[audience],
                    int(np.count_nonzero(~audience)),
                )


def _first_pairs(
    groups: np.ndarray, values: np.ndarray, candidates: np.ndarray, size: int
) -> np.ndarray:
    """Mask keeping the first of each repeated (group, value) pair, looking only at candidates."""
    keep = ~candidates
    where = np.flatnonzero(candidates)
    keys = groups[where] * size + values[where]
    order = np.argsort(keys, kind="stable")
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order[1:]] != keys[order[:-1]]
    keep[where[order[first]]] = True
    return keep


def _split(values: np.ndarray, groups: np.ndarray, count: int) -> list[np.ndarray]:
    """`values` (ordered by group) cut into one array per group 0..count-1."""
    bounds = np.cumsum(np.bincount(groups, minlength=count))[:-1]
    return np.split(values, bounds)


def snapshot(graph: AudienceGraph, snapshot_id: str, taken_at: datetime) -> list[MetricRow]:
    """Every row of one snapshot: scopes, employees, the coverage curve, campaigns."""
    frame = _Frame(graph)
    rows: list[MetricRow] = []
    for kind, scope, employees, accounts in _scopes(frame):
        rows.append(_scope_row(frame, snapshot_id, taken_at, kind, scope, employees, accounts))
    audiences = _employee_audiences(frame)
    rows.extend(_employee_rows(frame, audiences, snapshot_id, taken_at))
    rows.extend(_coverage(frame, audiences, snapshot_id, taken_at))
    rows.extend(_campaigns(graph, frame, audiences, snapshot_id, taken_at))
    return rows


# -- scopes --------------------------------------------------------------------


def _scopes(frame: _Frame) -> Iterable[tuple[str, str, int, list[_Account]]]:
    """(kind, scope, active employees, live accounts) of every scope, company first."""
    yield "company", "", len(frame.employees), frame.accounts
    for kind in ("department", "region"):
        members: dict[str, int] = defaultdict(int)
        accounts: dict[str, list[_Account]] = defaultdict(list)
        for employee in frame.employees:
            members[getattr(employee, kind)] += 1
        for account in frame.accounts:
            accounts[getattr(frame.employees[account.owner], kind)].append(account)
        for scope in sorted(members):
            yield kind, scope, members[scope], accounts[scope]
    by_network: dict[str, list[_Account]] = defaultdict(list)
    for account in frame.accounts:
        by_network[account.state.network].append(account)
    for network, accounts_on in sorted(by_network.items()):
        yield "network", network, len({a.owner for a in accounts_on}), accounts_on


def _concat(arrays: Iterable[np.ndarray]) -> np.ndarray:
    arrays = list(arrays)
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _count_distinct(marks: np.ndarray, values: np.ndarray) -> int:
    marks[values] = True
    count = int(np.count_nonzero(marks))
    marks[values] = False
    return count


def _scope_row(
    frame: _Frame,
    snapshot_id: str,
    taken_at: datetime,
    kind: str,
    scope: str,
    employees: int,
    accounts: list[_Account],
) -> ScopeMetrics:
    persons = _concat(a.persons for a in accounts)
    distinct_persons = _count_distinct(frame.person_marks, persons)
    estimate = Estimate(distinct_persons, distinct_persons, distinct_persons)
    sampled = [a.sampled for a in accounts if a.sampled is not None]
    if sampled:
        complete = [a for a in accounts if a.complete] or [a for a in frame.accounts if a.complete]
        overlap = _overlap_factor(frame, complete, others=any(a.complete for a in accounts))
        frame.person_marks[persons] = True
        estimate = estimate_persons(distinct_persons, frame.person_marks, sampled, overlap)
        frame.person_marks[persons] = False
    return ScopeMetrics(
        snapshot_id=snapshot_id,
        taken_at=taken_at,
        scope_kind=kind,  # type: ignore[arg-type]
        scope=scope,
        employees=employees,
        naive_reach=sum(a.state.naive_followers for a in accounts),
        distinct_accounts=_count_distinct(frame.node_marks, _concat(a.followers for a in accounts)),
        distinct_persons=distinct_persons,
        estimated_persons=estimate.persons,
        ci_low=estimate.low,
        ci_high=estimate.high,
    )


def _overlap_factor(frame: _Frame, complete: list[_Account], *, others: bool) -> OverlapFactor:
    """How much the new persons of accounts on one network overlap, per complete network.

    With `others`, a network's new persons are those that the complete lists on
    the other networks do not reach (the situation of a stats-only account in a
    scope with complete lists); without, all its persons.
    """
    by_network: dict[str, list[np.ndarray]] = defaultdict(list)
    for account in complete:
        by_network[account.state.network].append(account.persons)
    incidences_of = {network: _concat(lists) for network, lists in by_network.items()}
    on_network = {}
    for network, incidences in incidences_of.items():
        frame.person_marks[incidences] = True
        on_network[network] = np.flatnonzero(frame.person_marks)
        frame.person_marks[incidences] = False
    counts = frame.network_counts
    for labels in on_network.values():
        counts[labels] += 1
    distinct: list[int] = []
    pairs: list[int] = []
    for network, labels in on_network.items():
        if others:
            distinct.append(int(np.count_nonzero(counts[labels] == 1)))
            pairs.append(int(np.count_nonzero(counts[incidences_of[network]] == 1)))
        else:
            distinct.append(len(labels))
            pairs.append(len(incidences_of[network]))
    for labels in on_network.values():
        counts[labels] = 0
    return OverlapFactor.from_networks(distinct, pairs)


# -- employees -----------------------------------------------------------------


@dataclass(slots=True)
class _Audiences:
    persons: list[np.ndarray]  # per active employee: distinct person labels
    reached_by: np.ndarray  # label -> number of active employees reaching it
    exclusive: list[int]  # per employee: persons no other active employee reaches
    strongest: list[list[tuple[int, int]]]  # per employee: (other, shared persons), largest first


def _employee_audiences(frame: _Frame) -> _Audiences:
    persons = frame.employee_persons
    columns = _concat(persons)
    reached_by = np.bincount(columns, minlength=len(frame.component))
    # Persons only one employee reaches add nothing to any overlap: leave them out.
    rows = np.repeat(np.arange(len(persons)), [len(p) for p in persons])
    shared = reached_by[columns] > 1
    indptr = np.zeros(len(persons) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[shared], minlength=len(persons)), out=indptr[1:])
    matrix = sparse.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.int32), columns[shared], indptr),
        shape=(len(persons), len(frame.component)),
    )
    overlaps = sparse.csr_matrix(matrix @ matrix.T)
    strongest = [_strongest(overlaps, row, TOP_OVERLAPS) for row in range(len(persons))]
    exclusive = np.bincount(rows[~shared], minlength=len(persons)).tolist()
    return _Audiences(persons, reached_by, exclusive, strongest)


def _strongest(overlaps: sparse.csr_matrix, row: int, count: int) -> list[tuple[int, int]]:
    """The `count` employees sharing most persons with `row` (ties: lower index), largest first."""
    start, end = overlaps.indptr[row], overlaps.indptr[row + 1]
    others, shared = overlaps.indices[start:end], overlaps.data[start:end]
    keep = others != row
    others, shared = others[keep], shared[keep]
    order = np.lexsort((others, -shared))[:count]
    return [(int(others[i]), int(shared[i])) for i in order]


def _clusters(audiences: _Audiences, employees: int) -> list[int]:
    """Louvain communities of the overlap graph (each employee's strongest overlaps)."""
    graph = nx.Graph()
    graph.add_weighted_edges_from(
        (row, other, shared)
        for row, strongest in enumerate(audiences.strongest)
        for other, shared in strongest
    )
    communities = nx.community.louvain_communities(graph, weight="weight", seed=CLUSTER_SEED)
    ordered = sorted((c for c in communities if len(c) > 1), key=lambda c: (-len(c), min(c)))
    cluster = [-1] * employees
    for number, community in enumerate(ordered):
        for row in community:
            cluster[row] = number
    return cluster


def _employee_rows(
    frame: _Frame, audiences: _Audiences, snapshot_id: str, taken_at: datetime
) -> Iterable[EmployeeReach]:
    clusters = _clusters(audiences, len(frame.employees))
    for row, employee in enumerate(frame.employees):
        persons = audiences.persons[row]
        yield EmployeeReach(
            snapshot_id=snapshot_id,
            taken_at=taken_at,
            employee_id=employee.employee_id,
            department=employee.department,
            region=employee.region,
            naive_followers=frame.naive[row],
            followers=len(persons),
            exclusive_followers=audiences.exclusive[row],
            cluster=clusters[row],
            top_overlaps=[
                (frame.employees[other].employee_id, shared)
                for other, shared in audiences.strongest[row]
            ],
        )


def _coverage(
    frame: _Frame, audiences: _Audiences, snapshot_id: str, taken_at: datetime
) -> Iterable[CoveragePoint]:
    """Greedy (lazy: a stale gain is an upper bound) choice of who adds most new persons."""
    total = int(np.count_nonzero(audiences.reached_by))
    covered = np.zeros(len(frame.component), dtype=bool)
    heap = [(-len(p), row) for row, p in enumerate(audiences.persons) if len(p)]
    heapq.heapify(heap)
    cumulative = rank = 0
    while heap:
        _, row = heapq.heappop(heap)
        persons = audiences.persons[row]
        gain = int(np.count_nonzero(~covered[persons]))
        if gain == 0:
            continue
        if heap and (-gain, row) > heap[0]:
            heapq.heappush(heap, (-gain, row))
            continue
        covered[persons] = True
        cumulative += gain
        rank += 1
        yield CoveragePoint(
            snapshot_id=snapshot_id,
            taken_at=taken_at,
            rank=rank,
            employee_id=frame.employees[row].employee_id,
            new_persons=gain,
            cumulative_persons=cumulative,
            cumulative_share=cumulative / total,
        )


# -- campaigns -----------------------------------------------------------------


def _campaigns(
    graph: AudienceGraph,
    frame: _Frame,
    audiences: _Audiences,
    snapshot_id: str,
    taken_at: datetime,
) -> Iterable[CampaignReach]:
    """Reach of each campaign through the complete lists of the active employees who relayed it.

    `posts` counts every post of the campaign; the naive sum, like the persons,
    covers the complete lists only, so that the two compare like for like.
    """
    index = {e.employee_id: i for i, e in enumerate(frame.employees)}
    complete_naive = [0] * len(frame.employees)
    for account in frame.accounts:
        if account.complete:
            complete_naive[account.owner] += account.state.naive_followers
    posts: dict[str, int] = defaultdict(int)
    relays: dict[str, set[int]] = defaultdict(set)
    for campaign, employee_id in graph.campaign_posts.values():
        posts[campaign] += 1
        row = index.get(employee_id)
        if row is not None:
            relays[campaign].add(row)
    for campaign in sorted(posts):
        rows = sorted(relays[campaign])
        persons = _concat(audiences.persons[row] for row in rows)
        yield CampaignReach(
            snapshot_id=snapshot_id,
            taken_at=taken_at,
            campaign_id=campaign,
            relaying_employees=len(rows),
            posts=posts[campaign],
            naive_reach=sum(complete_naive[row] for row in rows),
            distinct_persons=_count_distinct(frame.person_marks, persons),
        )
