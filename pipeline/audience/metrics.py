"""A snapshot of the graph: every metric of every scope, as `schemas.metrics` rows.

The graph keeps only what must be live (the company's counts) and an edge log;
a snapshot copies the log and the person labels into numpy arrays and derives
everything with whole-array operations, never a Python loop over edges:

- a scope kind's distinct accounts and persons are the marks left in one
  (scope x node) boolean array, counted per row;
- the overlap factor of the estimate counts, per (scope, person), how many
  complete networks reach the person (one fancy-indexed increment per network);
- persons per employee are the (employee, person) pairs, grouped by a radix
  sort; overlaps between employees are one sparse product.

Every count is exact and recomputed by each snapshot. Two things are reused
from an earlier snapshot while the graph changed little (`Snapshots`): the
overlap product behind `top_overlaps` (recomputed once the follow, link and
roster edits since it exceed OVERLAP_REFRESH_SHARE of the live edges, the
active employees changed, or it served OVERLAP_MAX_AGE snapshots) and the
Louvain clusters (rerun with a new product when its weights moved by more than
CLUSTER_REFRESH_CHANGE, the employees changed, or every CLUSTER_MAX_AGE
products).
"""

from __future__ import annotations

import gc
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
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

if TYPE_CHECKING:  # the graph calls `Snapshots.take`; only its types are needed here
    from pipeline.audience.graph import AudienceGraph, EmployeeAccountState

# (employee, shared persons) pairs kept per employee: reported, and the edges of
# the cluster graph (Louvain in networkx costs ~1 s per 50,000 edges).
TOP_OVERLAPS = 5
CLUSTER_SEED = 20_260_101  # Louvain is randomised: a fixed seed keeps snapshots comparable
OVERLAP_REFRESH_SHARE = 0.01  # edits, as a share of live edges, that force a new product
OVERLAP_MAX_AGE = 10  # snapshots one product may serve
CLUSTER_REFRESH_CHANGE = 0.02  # moved cluster-graph weight, as a share, that reruns Louvain
CLUSTER_MAX_AGE = 10  # products one Louvain run may serve
MAX_NETWORKS = 15  # networks with live accounts: their bits and one more fit 16-bit flags
MARK_BLOCK = 1 << 25  # cells of one (scope x node) mark array: at most ~100 MB of scratch


class _Frame:
    """The graph's state as arrays, read once per snapshot.

    Edges of live accounts come from the edge log. A person appears twice in
    one account's list only through two linked accounts, so only edges to
    multi-account persons go through the (sorting) dedup; per employee also
    every pair of an employee with two accounts on one network (pseudonyms
    are per network, see ingest).
    """

    def __init__(self, graph: AudienceGraph) -> None:
        component = np.frombuffer(graph.component, dtype=np.int32).astype(np.int64)
        self.size = size = len(component)
        audience_label = np.frombuffer(graph.component_employees, dtype=np.int32) == 0
        shared_label = np.zeros(size, dtype=bool)
        shared_label[list(graph.members)] = True
        self.employees: list[Employee] = graph.active_employees()
        index = {e.employee_id: i for i, e in enumerate(self.employees)}
        # Live accounts by owner, then (network, account_id): an order that does
        # not depend on the order events arrived in.
        self.states: list[EmployeeAccountState] = sorted(
            graph.live_accounts(), key=lambda state: index[state.owner or ""]
        )
        states = self.states
        self.owner = np.array([index[s.owner or ""] for s in states], dtype=np.int64)
        self.networks = sorted({s.network for s in states})
        network_index = {network: k for k, network in enumerate(self.networks)}
        self.network = np.array([network_index[s.network] for s in states], dtype=np.int64)
        self.naive = np.array([s.naive_followers for s in states], dtype=np.int64)
        self.complete = np.array([s.stats is None for s in states], dtype=bool)

        position = np.full(len(graph.account_list), -1, dtype=np.int64)
        position[[s.index for s in states]] = np.arange(len(states))
        log_nodes = np.frombuffer(graph.edge_node, dtype=np.int32)
        log_accounts = position[np.frombuffer(graph.edge_account, dtype=np.int32)]
        live = (log_nodes >= 0) & (log_accounts >= 0)
        nodes, account_of = log_nodes[live].astype(np.int64), log_accounts[live]
        del log_nodes  # no view of the log may outlive the snapshot (it blocks appends)
        staff = np.zeros(size, dtype=bool)
        staff[list(graph.employee_listings)] = True
        audience_account = ~staff[nodes]
        # Follower accounts of the complete lists, employee accounts left out.
        self.follower_nodes = nodes[audience_account]
        self.follower_account = account_of[audience_account]
        labels = component[nodes]
        audience = audience_label[labels]
        persons, account_of = labels[audience], account_of[audience]
        once = _first_pairs(account_of, persons, shared_label[persons], size)
        # (account, person) incidences: each audience person once per account.
        self.incidence_account, self.incidence_person = account_of[once], persons[once]
        same_network = np.zeros(len(self.employees), dtype=bool)
        seen: set[tuple[int, int]] = set()
        for owner, network in zip(self.owner.tolist(), self.network.tolist(), strict=True):
            if (owner, network) in seen:
                same_network[owner] = True
            seen.add((owner, network))
        employee_of = self.owner[self.incidence_account]
        candidates = shared_label[self.incidence_person] | same_network[employee_of]
        once = _first_pairs(employee_of, self.incidence_person, candidates, size)
        self.pair_employee, self.pair_person = employee_of[once], self.incidence_person[once]

        self.sampled: list[SampledAccount | None] = []
        for state in states:
            if state.stats is None:
                self.sampled.append(None)
                continue
            sample = component[np.asarray(state.sample, dtype=np.int64)]
            audience = audience_label[sample]
            self.sampled.append(
                SampledAccount(
                    state.stats.followers_count,
                    sample[audience],
                    int(np.count_nonzero(~audience)),
                )
            )
        self.person_marks = np.zeros(size, dtype=bool)  # scratch, left all False


def _first_pairs(
    groups: np.ndarray, values: np.ndarray, candidates: np.ndarray, size: int
) -> np.ndarray:
    """Mask keeping the first of each repeated (group, value) pair, looking only at candidates."""
    keep = ~candidates
    where = np.flatnonzero(candidates)
    keys = groups[where] * size + values[where]
    order = np.argsort(keys)  # which of equal pairs is kept does not matter
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order[1:]] != keys[order[:-1]]
    keep[where[order[first]]] = True
    return keep


def _group_order(groups: np.ndarray, count: int) -> np.ndarray:
    """Stable order grouping `groups` (0..count-1); a radix sort while they fit 16 bits."""
    return np.argsort(groups.astype(np.uint16) if count <= 1 << 16 else groups, kind="stable")


class Snapshots:
    """Takes snapshots of one graph; keeps the last overlap product and clusters for the next."""

    def __init__(self) -> None:
        self.overlaps: _Overlaps | None = None

    def take(self, graph: AudienceGraph, snapshot_id: str, taken_at: datetime) -> list[MetricRow]:
        """Every row of one snapshot: scopes, employees, the coverage curve, campaigns."""
        collecting = gc.isenabled()
        gc.disable()  # rows make no cycles; a collection would walk the graph's millions of objects
        try:
            return self._take(graph, snapshot_id, taken_at)
        finally:
            if collecting:
                gc.enable()

    def _take(self, graph: AudienceGraph, snapshot_id: str, taken_at: datetime) -> list[MetricRow]:
        graph.compact_edges()
        frame = _Frame(graph)
        rows: list[MetricRow] = list(_scope_rows(frame, snapshot_id, taken_at))
        audiences = _employee_audiences(frame)
        live_edges = len(graph.edge_node) - graph.removed_edges
        self.overlaps = _Overlaps.refreshed(
            self.overlaps, frame, audiences, graph.edits, live_edges
        )
        rows.extend(_employee_rows(frame, audiences, self.overlaps, snapshot_id, taken_at))
        rows.extend(_coverage(frame, audiences, snapshot_id, taken_at))
        rows.extend(_campaigns(graph, frame, audiences, snapshot_id, taken_at))
        return rows


# -- scopes --------------------------------------------------------------------


@dataclass(slots=True)
class _ScopeKind:
    kind: str
    names: list[str]
    employees: np.ndarray  # per scope: active employees
    of_account: np.ndarray  # live account -> scope


def _scope_kinds(frame: _Frame) -> list[_ScopeKind]:
    """The company, departments, regions (latest roster values), networks; scopes sorted."""
    kinds = [
        _ScopeKind(
            "company",
            [""],
            np.array([len(frame.employees)]),
            np.zeros(len(frame.states), dtype=np.int64),
        )
    ]
    for kind in ("department", "region"):
        values = [getattr(e, kind) for e in frame.employees]
        names = sorted(set(values))
        number = {name: i for i, name in enumerate(names)}
        of_employee = np.array([number[v] for v in values], dtype=np.int64)
        employees = np.bincount(of_employee, minlength=len(names))
        kinds.append(_ScopeKind(kind, names, employees, of_employee[frame.owner]))
    networks = len(frame.networks)
    owners_on = np.unique(frame.network * max(1, len(frame.employees)) + frame.owner)
    employees = np.bincount(owners_on // max(1, len(frame.employees)), minlength=networks)
    kinds.append(_ScopeKind("network", frame.networks, employees, frame.network))
    return kinds


def _mark_blocks(scopes: int, size: int) -> Iterator[tuple[int, int]]:
    """(first, end) scope ranges whose (scope x size) mark arrays stay within MARK_BLOCK cells."""
    step = max(1, MARK_BLOCK // max(1, size))
    for first in range(0, scopes, step):
        yield first, min(scopes, first + step)


def _marks(
    scope_of: np.ndarray, values: np.ndarray, first: int, end: int, frame: _Frame
) -> np.ndarray:
    """Flat (scope first..end-1 x node) marks of the items whose scope is in the range."""
    marks = np.zeros((end - first) * frame.size, dtype=bool)
    inside = (scope_of >= first) & (scope_of < end)
    marks[(scope_of[inside] - first) * frame.size + values[inside]] = True
    return marks


def _scope_rows(frame: _Frame, snapshot_id: str, taken_at: datetime) -> Iterator[ScopeMetrics]:
    """Every scope's row, company first (its overlap factor is the fallback of the others)."""
    company_factor: OverlapFactor | None = None
    for kind in _scope_kinds(frame):
        scopes = len(kind.names)
        naive = np.bincount(kind.of_account, weights=frame.naive, minlength=scopes)
        sampled: list[list[SampledAccount]] = [[] for _ in range(scopes)]
        for scope, account in zip(kind.of_account.tolist(), frame.sampled, strict=True):
            if account is not None:
                sampled[scope].append(account)
        for first, end in _mark_blocks(scopes, frame.size):
            accounts = _marks(
                kind.of_account[frame.follower_account], frame.follower_nodes, first, end, frame
            )
            distinct_accounts = _row_counts(accounts, end - first)
            del accounts
            reach = _Reach.of(frame, kind.of_account, first, end)
            distinct_persons = _row_counts(reach.flags, end - first)
            factors: dict[int, OverlapFactor] = {}
            if any(sampled[first:end]):
                factors = _overlap_factors(frame, kind.of_account, reach)
            if kind.kind == "company":
                plain = _overlap_factors(frame, kind.of_account, reach, plain=True)
                company_factor = plain.get(0, OverlapFactor.from_networks([], []))
            for scope in range(first, end):
                exact = int(distinct_persons[scope - first])
                estimate = Estimate(exact, exact, exact)
                if sampled[scope]:
                    overlap = factors.get(scope, company_factor)
                    assert overlap is not None  # the company comes first
                    known = reach.persons(scope - first)
                    estimate = estimate_persons(exact, known, sampled[scope], overlap)
                yield ScopeMetrics(
                    snapshot_id=snapshot_id,
                    taken_at=taken_at,
                    scope_kind=kind.kind,  # type: ignore[arg-type]
                    scope=kind.names[scope],
                    employees=int(kind.employees[scope]),
                    naive_reach=int(naive[scope]),
                    distinct_accounts=int(distinct_accounts[scope - first]),
                    distinct_persons=exact,
                    estimated_persons=estimate.persons,
                    ci_low=estimate.low,
                    ci_high=estimate.high,
                )


@dataclass(slots=True)
class _Reach:
    """Who reaches whom in a block of scopes first..end-1 of one kind.

    `flags` is flat (scope x person): bit k set if a complete list on network k
    reaches the person in the scope, bit `len(networks)` if a stats-only
    account's list does. One gather and scatter per network: it replaces a mark
    array per network, the count of networks per person and the persons' marks.
    """

    first: int
    end: int
    flags: np.ndarray
    cell: np.ndarray  # per (account, person) incidence in the block: its flat (scope, person)
    bit: np.ndarray  # per incidence: its account's network, `len(networks)` if stats-only

    @classmethod
    def of(cls, frame: _Frame, scope_of_account: np.ndarray, first: int, end: int) -> _Reach:
        if len(frame.networks) > MAX_NETWORKS:
            raise ValueError(f"{len(frame.networks)} networks: the flags hold {MAX_NETWORKS}")
        dtype = np.dtype(np.uint8 if len(frame.networks) < 8 else np.uint16)
        flags = np.zeros((end - first) * frame.size, dtype=dtype)
        scope = scope_of_account[frame.incidence_account]
        inside = (scope >= first) & (scope < end)
        account = frame.incidence_account[inside]
        cell = (scope[inside] - first) * frame.size + frame.incidence_person[inside]
        bit = np.where(frame.complete, frame.network, len(frame.networks))[account]
        for k in np.flatnonzero(np.bincount(bit)).tolist():
            flags[cell[bit == k]] |= dtype.type(1 << k)  # the same value for repeated cells
        return cls(first, end, flags, cell, bit)

    def persons(self, scope: int) -> np.ndarray:
        """Marks of the persons that scope `first + scope`'s lists reach."""
        size = len(self.flags) // (self.end - self.first)
        return self.flags[scope * size : (scope + 1) * size] != 0


def _overlap_factors(
    frame: _Frame, scope_of_account: np.ndarray, reach: _Reach, *, plain: bool = False
) -> dict[int, OverlapFactor]:
    """How much the new persons of accounts on one network overlap, per complete network.

    Per scope of the block that has complete lists: a network's new persons are
    those that the complete lists on the scope's other networks do not reach
    (the situation of a stats-only account in a scope with complete lists);
    `plain`: all its persons (for the fallback of scopes without complete lists).
    """
    networks = len(frame.networks)
    scopes = reach.end - reach.first
    complete = frame.complete & (scope_of_account >= reach.first) & (scope_of_account < reach.end)
    # The networks with a complete list in each scope, even an empty one.
    present = np.zeros((scopes, networks), dtype=bool)
    present[scope_of_account[complete] - reach.first, frame.network[complete]] = True
    dtype = reach.flags.dtype.type
    masked = reach.flags & dtype((1 << networks) - 1)  # complete networks only
    rows = masked.reshape(scopes, frame.size)
    distinct = np.zeros((scopes, networks), dtype=np.int64)
    for k in np.flatnonzero(present.any(axis=0)).tolist():
        for s, row in enumerate(rows):
            distinct[s, k] = np.count_nonzero(row & dtype(1 << k) if plain else row == 1 << k)
    on_complete = reach.bit < networks
    cell, network = reach.cell[on_complete], reach.bit[on_complete]
    pair = cell // frame.size * networks + network
    if not plain:
        pair = pair[masked[cell] == np.left_shift(1, network).astype(masked.dtype)]
    pairs = np.bincount(pair, minlength=scopes * networks).reshape(scopes, networks)
    return {
        reach.first + s: OverlapFactor.from_networks(
            distinct[s, present[s]].tolist(), pairs[s, present[s]].tolist()
        )
        for s in range(scopes)
        if present[s].any()
    }


def _row_counts(marks: np.ndarray, rows: int) -> list[int]:
    """Marks per row of a flat (rows x n) array (row by row: much faster than axis=1)."""
    return [int(np.count_nonzero(row)) for row in marks.reshape(rows, -1)]


# -- employees -----------------------------------------------------------------


@dataclass(slots=True)
class _Audiences:
    persons: list[np.ndarray]  # per active employee: distinct person labels
    reached_by: np.ndarray  # label -> number of active employees reaching it
    exclusive: list[int]  # per employee: persons no other active employee reaches
    shared: sparse.csr_matrix  # employee x person, persons reached by two employees or more


def _employee_audiences(frame: _Frame) -> _Audiences:
    employees = len(frame.employees)
    reached_by = np.bincount(frame.pair_person, minlength=frame.size)
    order = _group_order(frame.pair_employee, employees)
    columns = frame.pair_person[order]
    counts = np.bincount(frame.pair_employee, minlength=employees)
    bounds = np.zeros(employees + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    persons = [columns[bounds[row] : bounds[row + 1]] for row in range(employees)]
    # Persons only one employee reaches add nothing to any overlap: leave them out.
    shared = reached_by[columns] > 1
    rows = frame.pair_employee[order]
    exclusive = np.bincount(rows[~shared], minlength=employees).tolist()
    indptr = np.zeros(employees + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[shared], minlength=employees), out=indptr[1:])
    matrix = sparse.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.int32), columns[shared], indptr),
        shape=(employees, frame.size),
    )
    return _Audiences(persons, reached_by, exclusive, matrix)


def _strongest(overlaps: sparse.csr_matrix, row: int, count: int) -> list[tuple[int, int]]:
    """The `count` employees sharing most persons with `row` (ties: lower index), largest first."""
    start, end = overlaps.indptr[row], overlaps.indptr[row + 1]
    others, shared = overlaps.indices[start:end], overlaps.data[start:end]
    keep = others != row
    others, shared = others[keep], shared[keep]
    order = np.lexsort((others, -shared))[:count]
    return [(int(others[i]), int(shared[i])) for i in order]


@dataclass(slots=True)
class _Overlaps:
    """One overlap product (each employee's strongest overlaps) and its clusters."""

    employee_ids: list[str]
    edits: int  # the graph's edit count when the product was taken
    strongest: list[list[tuple[int, int]]]  # per employee: (other, shared persons), largest first
    weights: dict[tuple[int, int], int]  # the cluster graph: (row, other) -> shared persons
    cluster: list[int]  # per employee row, -1 if alone
    age: int = 0  # snapshots that reused the product
    cluster_age: int = 0  # products that reused the clusters

    @classmethod
    def refreshed(
        cls,
        previous: _Overlaps | None,
        frame: _Frame,
        audiences: _Audiences,
        edits: int,
        live_edges: int,
    ) -> _Overlaps:
        """The previous product while current enough (see the module's docstring), else a new one."""
        employee_ids = [e.employee_id for e in frame.employees]
        same_employees = previous is not None and previous.employee_ids == employee_ids
        if (
            previous is not None
            and same_employees
            and previous.age + 1 < OVERLAP_MAX_AGE
            and edits - previous.edits <= OVERLAP_REFRESH_SHARE * live_edges
        ):
            previous.age += 1
            return previous
        overlaps = sparse.csr_matrix(audiences.shared @ audiences.shared.T)
        strongest = [_strongest(overlaps, row, TOP_OVERLAPS) for row in range(len(employee_ids))]
        del overlaps
        weights = {
            (row, other): shared
            for row, strongest_of in enumerate(strongest)
            for other, shared in strongest_of
        }
        if previous is not None and same_employees and previous.cluster_age + 1 < CLUSTER_MAX_AGE:
            moved = sum(
                abs(weights.get(edge, 0) - previous.weights.get(edge, 0))
                for edge in weights.keys() | previous.weights.keys()
            )
            if moved <= CLUSTER_REFRESH_CHANGE * sum(previous.weights.values()):
                return cls(
                    employee_ids,
                    edits,
                    strongest,
                    previous.weights,
                    previous.cluster,
                    cluster_age=previous.cluster_age + 1,
                )
        return cls(employee_ids, edits, strongest, weights, _louvain(weights, len(employee_ids)))


def _louvain(weights: dict[tuple[int, int], int], employees: int) -> list[int]:
    """Louvain communities of the overlap graph (each employee's strongest overlaps)."""
    graph = nx.Graph()
    graph.add_weighted_edges_from((row, other, shared) for (row, other), shared in weights.items())
    communities = nx.community.louvain_communities(graph, weight="weight", seed=CLUSTER_SEED)
    ordered = sorted((c for c in communities if len(c) > 1), key=lambda c: (-len(c), min(c)))
    cluster = [-1] * employees
    for number, community in enumerate(ordered):
        for row in community:
            cluster[row] = number
    return cluster


def _employee_rows(
    frame: _Frame,
    audiences: _Audiences,
    overlaps: _Overlaps,
    snapshot_id: str,
    taken_at: datetime,
) -> Iterable[EmployeeReach]:
    naive = np.bincount(frame.owner, weights=frame.naive, minlength=len(frame.employees))
    for row, employee in enumerate(frame.employees):
        yield EmployeeReach(
            snapshot_id=snapshot_id,
            taken_at=taken_at,
            employee_id=employee.employee_id,
            department=employee.department,
            region=employee.region,
            naive_followers=int(naive[row]),
            followers=len(audiences.persons[row]),
            exclusive_followers=audiences.exclusive[row],
            cluster=overlaps.cluster[row],
            top_overlaps=[
                (frame.employees[other].employee_id, shared)
                for other, shared in overlaps.strongest[row]
            ],
        )


def _coverage(
    frame: _Frame, audiences: _Audiences, snapshot_id: str, taken_at: datetime
) -> Iterable[CoveragePoint]:
    """Greedy (lazy: a stale gain is an upper bound) choice of who adds most new persons."""
    total = int(np.count_nonzero(audiences.reached_by))
    covered = np.zeros(frame.size, dtype=bool)
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
    complete_naive = np.bincount(
        frame.owner[frame.complete],
        weights=frame.naive[frame.complete],
        minlength=len(frame.employees),
    )
    posts: dict[str, int] = defaultdict(int)
    relays: dict[str, set[int]] = defaultdict(set)
    for campaign, employee_id in graph.campaign_posts.values():
        posts[campaign] += 1
        row = index.get(employee_id)
        if row is not None:
            relays[campaign].add(row)
    marks = frame.person_marks
    for campaign in sorted(posts):
        rows = sorted(relays[campaign])
        for row in rows:
            marks[audiences.persons[row]] = True
        distinct = int(np.count_nonzero(marks))
        for row in rows:
            marks[audiences.persons[row]] = False
        yield CampaignReach(
            snapshot_id=snapshot_id,
            taken_at=taken_at,
            campaign_id=campaign,
            relaying_employees=len(rows),
            posts=posts[campaign],
            naive_reach=int(complete_naive[rows].sum()) if rows else 0,
            distinct_persons=distinct,
        )
