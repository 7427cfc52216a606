"""A snapshot of the graph: every metric of every scope, as `schemas.metrics` rows.

The graph keeps only what must be live (the company's counts) and an edge log;
a snapshot copies the log and the person labels into numpy arrays and derives
everything with whole-array operations, never a Python loop over edges:

- the edges are grouped by account once (a radix sort); what derives from them
  stays grouped by account, hence by employee, and one sort of the few edges
  that may repeat a person dedups both (account, person) and (employee, person);
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

import gc
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
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

    Edges of live accounts come from the edge log, grouped by account (one
    radix sort): every array derived from them stays grouped by account, hence
    by employee, and holds no account column (runs and their lengths). A person
    appears twice in one account's list only through two linked accounts, and
    twice in one employee's audience only through those or through two of the
    employee's accounts on one network (pseudonyms are per network, see
    ingest): only the edges of such persons and employees go through the
    (sorting) dedup, one sort for both the (account, person) incidences and the
    (employee, person) pairs. The incidences' account runs are then put in the
    order of their flag bit (see `_Reach`): each bit is one slice.
    """

    def __init__(self, graph: AudienceGraph) -> None:
        # Node, label and account arrays are int32 (the graph's own width): half the memory.
        component = np.frombuffer(graph.component, dtype=np.int32).copy()
        self.size = size = len(component)
        audience_label = np.frombuffer(graph.component_employees, dtype=np.int32) == 0
        shared_label = np.zeros(size, dtype=bool)
        shared_label[list(graph.members)] = True
        self.employees: list[Employee] = graph.active_employees()
        employees = len(self.employees)
        index = {e.employee_id: i for i, e in enumerate(self.employees)}
        # Live accounts by owner, then (network, account_id): an order that does
        # not depend on the order events arrived in.
        live_accounts = graph.live_accounts()
        owner = np.array([index[s.owner or ""] for s in live_accounts], dtype=np.int64)
        by_owner = np.argsort(owner, kind="stable")
        self.states: list[EmployeeAccountState] = [live_accounts[i] for i in by_owner.tolist()]
        states = self.states
        accounts = len(states)
        self.owner = owner[by_owner]
        self.networks = sorted({s.network for s in states})
        if len(self.networks) > MAX_NETWORKS:
            raise ValueError(f"{len(self.networks)} networks: the flags hold {MAX_NETWORKS}")
        network_index = {network: k for k, network in enumerate(self.networks)}
        self.network = np.array([network_index[s.network] for s in states], dtype=np.int64)
        self.naive = np.array([s.naive_followers for s in states], dtype=np.int64)
        self.complete = np.array([s.stats is None for s in states], dtype=bool)

        position = np.full(len(graph.account_list), -1, dtype=np.int32)
        position[[s.index for s in states]] = np.arange(accounts)
        log_nodes = np.frombuffer(graph.edge_node, dtype=np.int32)
        log_accounts = position[np.frombuffer(graph.edge_account, dtype=np.int32)]
        live = (log_nodes >= 0) & (log_accounts >= 0)
        account_of = log_accounts[live]
        del log_accounts
        nodes = log_nodes[live][_group_order(account_of, accounts)]
        del log_nodes, live  # no view of the log may outlive the snapshot (it blocks appends)
        edge_bounds = _bounds(np.bincount(account_of, minlength=accounts))
        del account_of
        staff = np.zeros(size, dtype=bool)
        staff[list(graph.employee_listings)] = True
        audience_account = ~staff[nodes]
        # Follower accounts of the complete lists, employee accounts left out.
        self.follower_nodes = nodes[audience_account]
        self.follower_counts = _run_counts(audience_account, edge_bounds)
        labels = component[nodes]
        del nodes, audience_account
        audience = audience_label[labels]
        persons = labels[audience]
        del labels
        audience_bounds = _bounds(_run_counts(audience, edge_bounds))
        del audience

        on_network = self.owner * len(self.networks) + self.network
        same_network = np.zeros(employees, dtype=bool)
        same_network[self.owner[np.bincount(on_network)[on_network] > 1]] = True
        account_runs = np.diff(audience_bounds)
        candidates = shared_label[persons]
        candidates |= np.repeat(same_network[self.owner], account_runs)
        where = np.flatnonzero(candidates)
        account = np.repeat(np.arange(accounts, dtype=np.int32), account_runs)[where]
        first_incidence, first_pair = _first_pairs(self.owner, account, persons[where], size)
        incidence, pair = ~candidates, ~candidates
        incidence[where[first_incidence]] = True
        pair[where[first_pair]] = True
        del candidates, where, account, first_incidence, first_pair

        # (employee, person) pairs: each audience person once per employee, by employee.
        self.pair_person = persons[pair].astype(np.int64)  # faster per-employee lookups
        pair_accounts = _bounds(_run_counts(pair, audience_bounds))
        self.pair_bounds = pair_accounts[np.searchsorted(self.owner, np.arange(employees + 1))]
        # (account, person) incidences: each audience person once per account,
        # the accounts' runs ordered by flag bit: the account's network, or
        # `len(networks)` if stats-only.
        self.incidences = incidences = _run_counts(incidence, audience_bounds)  # per account
        bits = np.where(self.complete, self.network, len(self.networks))
        self.incidence_accounts = np.argsort(bits, kind="stable")
        self.incidence_runs = incidences[self.incidence_accounts]
        starts = _bounds(incidences)[self.incidence_accounts] - _bounds(self.incidence_runs)[:-1]
        run_starts = np.repeat(starts.astype(np.int32), self.incidence_runs)
        run_starts += np.arange(len(run_starts), dtype=np.int32)
        self.incidence_person = persons[incidence][run_starts]
        del persons, incidence, run_starts
        self.bit_accounts = _bounds(np.bincount(bits, minlength=len(self.networks) + 1))
        self.bit_bounds = _bounds(
            np.bincount(bits, weights=incidences, minlength=len(self.networks) + 1).astype(np.int64)
        )

        # The samples of the stats-only accounts, all at once.
        self.stats_only = np.flatnonzero(~self.complete)
        stats = [(state.stats, state.sample) for state in states if state.stats is not None]
        lengths = np.array([len(sample) for _, sample in stats], dtype=np.int64)
        sample = component[
            np.fromiter(
                chain.from_iterable(sample for _, sample in stats),
                dtype=np.int64,
                count=int(lengths.sum()),
            )
        ]
        audience = audience_label[sample]
        kept = _bounds(_run_counts(audience, _bounds(lengths))).tolist()
        sample = sample[audience]
        self.sampled = [  # per stats-only account
            SampledAccount(counts.followers_count, sample[start:end], colleagues)
            for (counts, _), start, end, colleagues in zip(
                stats, kept[:-1], kept[1:], (lengths - np.diff(kept)).tolist(), strict=True
            )
        ]
        self.person_marks = np.zeros(size, dtype=bool)  # scratch, left all False

    def follower_rows(self, scope_of_account: np.ndarray) -> np.ndarray:
        """Scope x size for each follower edge (`follower_nodes`): where its scope's row starts."""
        return np.repeat(scope_of_account * self.size, self.follower_counts)

    def bit_parts(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(bit, persons, accounts, persons per account) of each flag bit with incidences."""
        incidence, account = self.bit_bounds.tolist(), self.bit_accounts.tolist()
        for bit in range(len(incidence) - 1):
            if incidence[bit + 1] > incidence[bit]:
                runs = slice(account[bit], account[bit + 1])
                yield (
                    bit,
                    self.incidence_person[incidence[bit] : incidence[bit + 1]],
                    self.incidence_accounts[runs],
                    self.incidence_runs[runs],
                )

    def pair_employees(self, mask: np.ndarray) -> np.ndarray:
        """Per employee, the pairs that `mask` (over `pair_person`) keeps."""
        return _run_counts(mask, self.pair_bounds)


def _bounds(counts: np.ndarray) -> np.ndarray:
    """Where each run starts, and the end: 0, then the running sum of `counts`."""
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return bounds


def _run_counts(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """How many of `mask` are True in each run bounds[i]..bounds[i + 1] (int32: edge counts)."""
    running = np.zeros(len(mask) + 1, dtype=np.int32)
    np.cumsum(mask, out=running[1:])
    return np.diff(running[bounds]).astype(np.int64)


def _first_pairs(
    owner: np.ndarray, account: np.ndarray, person: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Masks keeping the first of each repeated (account, person) and (employee, person) item.

    One sort of (employee, person, account's rank among its owner's accounts)
    keys serves both. Which of equal items is kept does not matter.
    """
    accounts = len(owner)
    first_account = np.searchsorted(owner, owner)  # accounts are sorted by owner
    slots = int((np.arange(accounts) - first_account).max(initial=0)) + 1
    keys = (owner[account] * size + person) * slots + (account - first_account[account])
    order = _sort_order(keys, (int(owner.max(initial=0)) + 1) * size * slots)
    keys = keys[order]
    new = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    incidence = np.zeros(len(keys), dtype=bool)
    incidence[order[new]] = True
    keys //= slots
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    pair = np.zeros(len(keys), dtype=bool)
    pair[order[new]] = True
    return incidence, pair


def _sort_order(keys: np.ndarray, bound: int) -> np.ndarray:
    """An order sorting `keys` (0..bound-1); equal keys in any order.

    A sort of the keys with their positions packed in the low bits when both fit
    63 bits: several times faster than an argsort.
    """
    shift = len(keys).bit_length()
    if (max(bound, 1) - 1).bit_length() + shift > 63:
        return np.argsort(keys)
    packed = np.sort(np.left_shift(keys, shift) | np.arange(len(keys)))
    return packed & ((1 << shift) - 1)


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
    scope_of_account: np.ndarray | None, block: tuple[int, int, int], frame: _Frame
) -> np.ndarray:
    """Flat (scope first..end-1 x node) marks of the follower accounts of the block's lists."""
    first, end, _ = block
    marks = np.zeros((end - first) * frame.size, dtype=bool)
    row = None if scope_of_account is None else frame.follower_rows(scope_of_account)
    marks[_cells(row, frame.follower_nodes, block, frame.size)] = True
    return marks


def _scope_rows(frame: _Frame, snapshot_id: str, taken_at: datetime) -> Iterator[ScopeMetrics]:
    """Every scope's row, company first (its overlap factor is the fallback of the others)."""
    company_factor: OverlapFactor | None = None
    mixed: _Mixed | None = None
    for kind in _scope_kinds(frame):
        scopes = len(kind.names)
        naive = np.bincount(kind.of_account, weights=frame.naive, minlength=scopes)
        sampled: list[list[SampledAccount]] = [[] for _ in range(scopes)]
        for scope, account in zip(
            kind.of_account[frame.stats_only].tolist(), frame.sampled, strict=True
        ):
            sampled[scope].append(account)
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
        cls, frame: _Frame, scope_of_account: np.ndarray | None, block: tuple[int, int, int]
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
    def of(cls, frame: _Frame, company: _Reach) -> _Mixed:
        """From the company's reach (every incidence, one scope)."""
        complete = company.flags & company.flags.dtype.type((1 << len(frame.networks)) - 1)
        mixed = (complete & (complete - 1)) != 0
        where = np.flatnonzero(mixed[frame.incidence_person])
        run = np.searchsorted(_bounds(frame.incidence_runs), where, side="right") - 1
        account = frame.incidence_accounts[run]
        complete_list = frame.complete[account]
        return cls(account[complete_list], frame.incidence_person[where[complete_list]])


def _overlap_factors(
    frame: _Frame,
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
    dtype = reach.flags.dtype.type
    stats_only = 1 << networks  # the only bit besides network k a new person may have
    distinct = np.zeros((scopes, networks), dtype=np.int64)
    for s, k in np.argwhere(present).tolist():
        row = reach.row(s)
        if plain:
            distinct[s, k] = np.count_nonzero(row & dtype(1 << k))
        else:
            distinct[s, k] = np.count_nonzero(row == 1 << k) + np.count_nonzero(
                row == (1 << k) | stats_only
            )
    # (account on network k, person) incidences of the persons counted above.
    incidences = frame.incidences[complete]
    pairs = np.bincount(scope_network, weights=incidences, minlength=scopes * networks)
    if not plain:
        scope = scope_of_account[mixed.account]
        inside = (scope >= first) & (scope < reach.end)
        scope, account = scope[inside] - first, mixed.account[inside]
        own = np.left_shift(1, frame.network[account])
        flags = reach.flags[scope * frame.size + mixed.person[inside]]
        shared = (flags != own) & (flags != own | stats_only)
        pairs -= np.bincount(
            scope[shared] * networks + frame.network[account[shared]],
            minlength=scopes * networks,
        )
    counts = pairs.astype(np.int64).reshape(scopes, networks)
    return {
        first + s: OverlapFactor.from_networks(
            distinct[s, present[s]].tolist(), counts[s, present[s]].tolist()
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


def _employee_audiences(frame: _Frame) -> _Audiences:
    employees = len(frame.employees)
    reached_by = np.bincount(frame.pair_person, minlength=frame.size)
    bounds = frame.pair_bounds.tolist()
    persons = [frame.pair_person[bounds[row] : bounds[row + 1]] for row in range(employees)]
    alone = reached_by[frame.pair_person] == 1
    exclusive = frame.pair_employees(alone).tolist()
    return _Audiences(persons, reached_by, exclusive)


def _shared_persons(frame: _Frame, audiences: _Audiences) -> sparse.csr_matrix:
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
        shared = _shared_persons(frame, audiences)
        overlaps = sparse.csr_matrix(shared @ shared.T)
        del shared
        strongest = _strongest(overlaps, TOP_OVERLAPS)
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
