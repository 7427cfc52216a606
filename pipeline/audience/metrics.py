"""A snapshot of the graph: every metric of every scope, as `schemas.metrics` rows.

The graph keeps only what must be live (the company's counts) and an edge log;
a snapshot reads a `GraphView` of it into numpy arrays (`frame.Frame`, edges
grouped by account, hence by employee) and derives everything from those with
whole-array operations, never a Python loop over edges:

- a scope kind's distinct accounts are the marks left in one (scope x node)
  boolean array; its distinct persons the nonzero cells of one (scope x
  person) array of network bits, one scatter per network; both counted per row;
- the overlap factor of the estimate counts those cells by value, and each
  network's (account, person) incidences from per-account counts, less those
  of the few persons that complete lists on two networks reach;
- persons per employee are the (employee, person) pairs; overlaps between
  employees are one sparse product (persons numbered in the order employees
  reach them, for memory locality) and the strongest ones one sort.

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

import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
import numpy as np
from scipy import sparse

from pipeline.audience.estimate import (
    Estimate,
    OverlapFactor,
    SampledAccount,
    estimate_persons,
)
from pipeline.audience.frame import Frame
from pipeline.audience.view import GraphView
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, MetricRow, ScopeMetrics

# (employee, shared persons) pairs kept per employee: reported, and the edges of
# the cluster graph (Louvain in networkx costs ~1 s per 50,000 edges).
TOP_OVERLAPS = 5
CLUSTER_SEED = 20_260_101  # Louvain is randomised: a fixed seed keeps snapshots comparable
OVERLAP_REFRESH_SHARE = 0.01  # edits, as a share of live edges, that force a new product
OVERLAP_MAX_AGE = 10  # snapshots one product may serve
CLUSTER_REFRESH_CHANGE = 0.02  # moved cluster-graph weight, as a share, that reruns Louvain
CLUSTER_MAX_AGE = 10  # products one Louvain run may serve
MARK_BLOCK = 1 << 25  # cells of one (scope x node) mark array: at most ~100 MB of scratch


class Snapshots:
    """Takes snapshots of one graph's views; keeps the last overlap product and clusters for the next."""

    def __init__(self) -> None:
        self.overlaps: _Overlaps | None = None

    def take(self, view: GraphView, snapshot_id: str, taken_at: datetime) -> list[MetricRow]:
        """Every row of one snapshot: scopes, employees, the coverage curve, campaigns."""
        frame = Frame(view)
        rows: list[MetricRow] = list(_scope_rows(frame, snapshot_id, taken_at))
        audiences = _employee_audiences(frame)
        self.overlaps = _Overlaps.refreshed(
            self.overlaps, frame, audiences, view.edits, view.live_edges
        )
        rows.extend(_employee_rows(frame, audiences, self.overlaps, snapshot_id, taken_at))
        rows.extend(_coverage(frame, audiences, snapshot_id, taken_at))
        rows.extend(_campaigns(view.campaign_posts, frame, audiences, snapshot_id, taken_at))
        return rows


# -- scopes --------------------------------------------------------------------


@dataclass(slots=True)
class _ScopeKind:
    kind: str
    names: list[str]
    employees: np.ndarray  # per scope: active employees
    of_account: np.ndarray  # live account -> scope


def _scope_kinds(frame: Frame) -> list[_ScopeKind]:
    """The company, departments, regions (latest roster values), networks; scopes sorted."""
    kinds = [
        _ScopeKind(
            "company",
            [""],
            np.array([len(frame.employees)]),
            np.zeros(len(frame.accounts), dtype=np.int64),
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


def _cells(
    row: np.ndarray | None, items: np.ndarray, block: tuple[int, int, int], size: int
) -> np.ndarray:
    """Flat (scope - first, item) cells of the items whose scope is in the block first..end-1.

    `row`: scope x size per item, a new array that becomes the result; None:
    every item is in the one scope there is.
    """
    first, end, scopes = block
    if row is None:
        return items.astype(np.int64)  # a scatter is faster with intp indices
    if first or end < scopes:
        inside = (row >= first * size) & (row < end * size)
        row, items = row[inside] - first * size, items[inside]
    row += items
    return row


def _marks(
    scope_of_account: np.ndarray | None, block: tuple[int, int, int], frame: Frame
) -> np.ndarray:
    """Flat (scope first..end-1 x node) marks of the follower accounts of the block's lists."""
    first, end, _ = block
    marks = np.zeros((end - first) * frame.size, dtype=bool)
    row = None if scope_of_account is None else frame.follower_rows(scope_of_account)
    marks[_cells(row, frame.follower_nodes, block, frame.size)] = True
    return marks


def _scope_rows(frame: Frame, snapshot_id: str, taken_at: datetime) -> Iterator[ScopeMetrics]:
    """Every scope's row, company first (its overlap factor is the fallback of the others)."""
    company_factor: OverlapFactor | None = None
    mixed: _Mixed | None = None
    for kind in _scope_kinds(frame):
        scopes = len(kind.names)
        naive = np.bincount(kind.of_account, weights=frame.naive, minlength=scopes)
        sampled = _sampled_by_scope(frame, kind)
        # One scope (the company): no scope per item to look up.
        scope_of_account = kind.of_account if scopes > 1 else None
        for first, end in _mark_blocks(scopes, frame.size):
            block = (first, end, scopes)
            accounts = _marks(scope_of_account, block, frame)
            distinct_accounts = _row_counts(accounts, end - first)
            del accounts
            reach = _Reach.of(frame, scope_of_account, block)
            distinct_persons = _row_counts(reach.flags, end - first)
            if mixed is None:  # the company
                mixed = _Mixed.of(frame, reach)
            factors: dict[int, OverlapFactor] = {}
            if any(sampled[first:end]):
                factors = _overlap_factors(frame, kind.of_account, reach, mixed)
            if kind.kind == "company":
                plain = _overlap_factors(frame, kind.of_account, reach, mixed, plain=True)
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


def _sampled_by_scope(frame: Frame, kind: _ScopeKind) -> list[list[SampledAccount]]:
    """The stats-only accounts of each scope: only those scopes need an estimate."""
    sampled: list[list[SampledAccount]] = [[] for _ in kind.names]
    for scope, account in zip(
        kind.of_account[frame.stats_only].tolist(), frame.sampled, strict=True
    ):
        sampled[scope].append(account)
    return sampled


@dataclass(slots=True)
class _Reach:
    """Who reaches whom in a block of scopes first..end-1 of one kind.

    `flags` is flat (scope x person): bit k set if a complete list on network k
    reaches the person in the scope, bit `len(networks)` if a stats-only
    account's list does. One scatter per bit over the frame's incidences of
    that bit: it replaces a mark array per network, the count of networks per
    person and the persons' marks.
    """

    first: int
    end: int
    flags: np.ndarray

    @classmethod
    def of(
        cls, frame: Frame, scope_of_account: np.ndarray | None, block: tuple[int, int, int]
    ) -> _Reach:
        first, end, _ = block
        dtype = np.dtype(np.uint8 if len(frame.networks) < 8 else np.uint16)
        flags = np.zeros((end - first) * frame.size, dtype=dtype)
        for bit, persons, accounts, runs in frame.bit_parts():
            row = (
                None
                if scope_of_account is None
                else np.repeat(scope_of_account[accounts] * frame.size, runs)
            )
            # The same value for repeated cells: a plain scatter is exact.
            flags[_cells(row, persons, block, frame.size)] |= dtype.type(1 << bit)
        return cls(first, end, flags)

    def row(self, scope: int) -> np.ndarray:
        """The flags of scope `first + scope`, by person."""
        size = len(self.flags) // (self.end - self.first)
        return self.flags[scope * size : (scope + 1) * size]

    def persons(self, scope: int) -> np.ndarray:
        """Marks of the persons that scope `first + scope`'s lists reach."""
        return self.row(scope) != 0


@dataclass(slots=True)
class _Mixed:
    """Incidences of complete lists whose person complete lists on two networks or more reach.

    Only those (few) may have their person reached by another complete network
    within a scope too: in any scope, the others count as new persons of their
    network (see `_overlap_factors`).
    """

    account: np.ndarray
    person: np.ndarray

    @classmethod
    def of(cls, frame: Frame, company: _Reach) -> _Mixed:
        """From the company's reach (every incidence, one scope)."""
        complete = company.flags & company.flags.dtype.type((1 << len(frame.networks)) - 1)
        mixed = (complete & (complete - 1)) != 0
        where = np.flatnonzero(mixed[frame.incidence_person])
        account = frame.incidence_account(where)
        complete_list = frame.complete[account]
        return cls(account[complete_list], frame.incidence_person[where[complete_list]])

    def shared(self, frame: Frame, scope_of_account: np.ndarray, reach: _Reach) -> np.ndarray:
        """Per (scope, network) of the block, the incidences whose person is no new person there.

        That is, one that a complete list on another network reaches in the
        scope too; the incidence's own network is then not its only bit.
        """
        networks, first, end = len(frame.networks), reach.first, reach.end
        stats_only = 1 << networks
        scope = scope_of_account[self.account]
        inside = (scope >= first) & (scope < end)
        scope, account = scope[inside] - first, self.account[inside]
        own = np.left_shift(1, frame.network[account])
        flags = reach.flags[scope * frame.size + self.person[inside]]
        shared = (flags != own) & (flags != own | stats_only)
        return np.bincount(
            scope[shared] * networks + frame.network[account[shared]],
            minlength=(end - first) * networks,
        )


def _overlap_factors(
    frame: Frame,
    scope_of_account: np.ndarray,
    reach: _Reach,
    mixed: _Mixed,
    *,
    plain: bool = False,
) -> dict[int, OverlapFactor]:
    """How much the new persons of accounts on one network overlap, per complete network.

    Per scope of the block that has complete lists: a network's new persons are
    those that the complete lists on the scope's other networks do not reach
    (the situation of a stats-only account in a scope with complete lists);
    `plain`: all its persons (for the fallback of scopes without complete lists).
    """
    networks = len(frame.networks)
    first, scopes = reach.first, reach.end - reach.first
    complete = frame.complete & (scope_of_account >= first) & (scope_of_account < reach.end)
    # The networks with a complete list in each scope, even an empty one.
    scope_network = (scope_of_account[complete] - first) * networks + frame.network[complete]
    present = np.zeros((scopes, networks), dtype=bool)
    present.flat[scope_network] = True
    distinct = _new_persons(reach, present, plain=plain)
    # (account on network k, person) incidences of those persons: all of the network's,
    # less (unless plain) those whose person a complete list on another network reaches.
    incidences = frame.incidences[complete]
    pairs = np.bincount(scope_network, weights=incidences, minlength=scopes * networks)
    if not plain:
        pairs -= mixed.shared(frame, scope_of_account, reach)
    counts = pairs.astype(np.int64).reshape(scopes, networks)
    return {
        first + s: OverlapFactor.from_networks(
            distinct[s, present[s]].tolist(), counts[s, present[s]].tolist()
        )
        for s in range(scopes)
        if present[s].any()
    }


def _new_persons(reach: _Reach, present: np.ndarray, *, plain: bool) -> np.ndarray:
    """Per (scope, network) present: the persons of the network that no other one reaches.

    The stats-only bit is the only other bit such a person may have; `plain`:
    every person of the network.
    """
    scopes, networks = present.shape
    dtype = reach.flags.dtype.type
    stats_only = 1 << networks
    distinct = np.zeros((scopes, networks), dtype=np.int64)
    for s, k in np.argwhere(present).tolist():
        row = reach.row(s)
        if plain:
            distinct[s, k] = np.count_nonzero(row & dtype(1 << k))
        else:
            distinct[s, k] = np.count_nonzero(row == 1 << k) + np.count_nonzero(
                row == (1 << k) | stats_only
            )
    return distinct


def _row_counts(marks: np.ndarray, rows: int) -> list[int]:
    """Marks per row of a flat (rows x n) array (row by row: much faster than axis=1)."""
    return [int(np.count_nonzero(row)) for row in marks.reshape(rows, -1)]


# -- employees -----------------------------------------------------------------


@dataclass(slots=True)
class _Audiences:
    persons: list[np.ndarray]  # per active employee: distinct person labels
    reached_by: np.ndarray  # label -> number of active employees reaching it
    exclusive: list[int]  # per employee: persons no other active employee reaches


def _employee_audiences(frame: Frame) -> _Audiences:
    employees = len(frame.employees)
    reached_by = np.bincount(frame.pair_person, minlength=frame.size)
    bounds = frame.pair_bounds.tolist()
    persons = [frame.pair_person[bounds[row] : bounds[row + 1]] for row in range(employees)]
    alone = reached_by[frame.pair_person] == 1
    exclusive = frame.pair_employees(alone).tolist()
    return _Audiences(persons, reached_by, exclusive)


def _shared_persons(frame: Frame, audiences: _Audiences) -> sparse.csr_matrix:
    """Employee x person, persons reached by two employees or more (the others add no overlap).

    Persons are numbered in the order the employees first reach them: the
    product then finds the persons of an employee, and of the next ones, close
    together in memory (about twice as fast as numbered by label).
    """
    employees = len(frame.employees)
    shared = audiences.reached_by[frame.pair_person] > 1
    persons = frame.pair_person[shared]
    place = np.arange(len(persons), dtype=np.int32)  # int32: a table that stays in cache
    first = np.empty(frame.size, dtype=np.int32)
    first[persons[::-1]] = place[::-1]  # the first place, mostly: any one place will do
    firsts = first[persons] == place
    number = np.empty(frame.size, dtype=np.int32)
    number[persons[firsts]] = np.arange(np.count_nonzero(firsts), dtype=np.int32)
    indptr = np.zeros(employees + 1, dtype=np.int64)
    np.cumsum(frame.pair_employees(shared), out=indptr[1:])
    return sparse.csr_matrix(
        (np.ones(len(persons), dtype=np.int32), number[persons], indptr),
        shape=(employees, np.count_nonzero(firsts)),
    )


def _strongest_overlaps(frame: Frame, audiences: _Audiences) -> list[list[tuple[int, int]]]:
    """Each employee's TOP_OVERLAPS strongest overlaps: only they outlive the (large) product."""
    shared = _shared_persons(frame, audiences)
    overlaps = sparse.csr_matrix(shared @ shared.T)
    del shared
    return _strongest(overlaps, TOP_OVERLAPS)


def _strongest(overlaps: sparse.csr_matrix, count: int) -> list[list[tuple[int, int]]]:
    """Per row, the `count` others sharing most persons (ties: lower index), largest first.

    Entries below a per-row bound are dropped first: the largest power of two
    that `count` entries of the row reach. The rest are sorted by (row, shared
    descending, other), packed in one integer key while it fits 63 bits.
    """
    rows = overlaps.shape[0]
    row = np.repeat(np.arange(rows), np.diff(overlaps.indptr))
    other, shared = overlaps.indices.astype(np.int64), overlaps.data.astype(np.int64)
    keep = other != row
    row, other, shared = row[keep], other[keep], shared[keep]
    bound = np.ones(rows, dtype=np.int64)
    level, above = 2, np.flatnonzero(shared >= 2)
    while len(above):
        enough = np.bincount(row[above], minlength=rows) >= count
        bound[enough] = level
        level *= 2
        above = above[shared[above] >= level]
    keep = shared >= bound[row]
    row, other, shared = row[keep], other[keep], shared[keep]
    most = int(shared.max(initial=0))
    index_bits, shared_bits = max(rows - 1, 1).bit_length(), most.bit_length()
    if 2 * index_bits + shared_bits <= 63:
        keys = np.sort(
            (row << (shared_bits + index_bits)) | ((most - shared) << index_bits) | other
        )
        row, other = keys >> (shared_bits + index_bits), keys & ((1 << index_bits) - 1)
        shared = most - ((keys >> index_bits) & ((1 << shared_bits) - 1))
    else:
        order = np.lexsort((other, -shared, row))
        row, other, shared = row[order], other[order], shared[order]
    per_row = np.bincount(row, minlength=rows)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    top = rank < count
    bounds = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.minimum(per_row, count), out=bounds[1:])
    pairs = list(zip(other[top].tolist(), shared[top].tolist(), strict=True))
    ends = bounds.tolist()
    return [pairs[ends[r] : ends[r + 1]] for r in range(rows)]


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
        frame: Frame,
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
        strongest = _strongest_overlaps(frame, audiences)
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
    frame: Frame,
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
    frame: Frame, audiences: _Audiences, snapshot_id: str, taken_at: datetime
) -> Iterable[CoveragePoint]:
    """Greedy (lazy: a stale gain is an upper bound) choice of who adds most new persons."""
    total = int(np.count_nonzero(audiences.reached_by))
    covered = np.zeros(frame.size, dtype=bool)
    heap = [(-len(p), row) for row, p in enumerate(audiences.persons) if len(p)]
    heapq.heapify(heap)
    cumulative = rank = 0
    persons_of, count = audiences.persons, np.count_nonzero
    while heap:
        row = heap[0][1]
        persons = persons_of[row]
        gain = len(persons) - int(count(covered[persons]))
        if gain == 0:
            heapq.heappop(heap)
            continue
        # The others' best is a child of the top: if it beats the fresh gain, requeue the top.
        if (-gain, row) > min(heap[1:3], default=(0, row)):
            heapq.heapreplace(heap, (-gain, row))
            continue
        heapq.heappop(heap)
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
    campaign_posts: Collection[tuple[str, str]],
    frame: Frame,
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
    for campaign, employee_id in campaign_posts:
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
