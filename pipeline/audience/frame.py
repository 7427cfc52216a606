"""The graph's state as arrays, read once per snapshot from a `GraphView`.

A snapshot never loops in Python over edges: `Frame` copies the edge log and
the person labels into numpy arrays, and `pipeline.audience.metrics` derives
every metric from those with whole-array operations. The edges are grouped by
account once (a radix sort), and everything derived from them stays grouped by
account, hence by employee; one sort of the few edges that may repeat a person
dedups both the (account, person) incidences and the (employee, person) pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

import numpy as np

from pipeline.audience.estimate import SampledAccount
from pipeline.audience.view import GraphView, LiveAccount
from schemas.events import Employee

MAX_NETWORKS = 15  # networks with live accounts: their bits and one more fit 16-bit flags


class Frame:
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
    order of their flag bit (see `metrics._Reach`): each bit is one slice.

    Node, label and account arrays are int32 (the graph's own width): half the
    memory. Each step of `__init__` drops its scratch arrays before the next
    one allocates. "Per account" arrays follow `accounts`; a "run" is the
    slice of a flat array that belongs to one account (or employee, or bit).
    """

    size: int  # nodes: the length of every array by node or person label
    employees: list[Employee]  # active, by employee_id; an employee's index is its row
    accounts: list[LiveAccount]  # live, by owner, then (network, account_id)
    owner: np.ndarray  # per account: its employee's row (sorted)
    networks: list[str]  # the networks of live accounts, sorted
    network: np.ndarray  # per account: its index in `networks`
    naive: np.ndarray  # per account: its naive follower count
    complete: np.ndarray  # per account: True if its follower list is complete (no stats)
    follower_nodes: np.ndarray  # follower accounts, employee accounts left out, in account runs
    follower_counts: np.ndarray  # per account: the length of its run in `follower_nodes`
    pair_person: np.ndarray  # the person of each (employee, person) pair, in employee runs
    pair_bounds: np.ndarray  # per employee, and the end: where its run in `pair_person` starts
    incidences: np.ndarray  # per account: its (account, person) incidences
    incidence_accounts: np.ndarray  # accounts by flag bit: the order of the runs below
    incidence_runs: np.ndarray  # per `incidence_accounts` entry: its run's length
    incidence_person: np.ndarray  # the person of each incidence, in those runs
    bit_accounts: np.ndarray  # per flag bit, and the end: where its `incidence_accounts` start
    bit_bounds: np.ndarray  # per flag bit, and the end: where its `incidence_person` starts
    stats_only: np.ndarray  # the indices of the accounts with stats (no complete list)
    sampled: list[SampledAccount]  # per stats-only account: its sample, colleagues left out
    person_marks: np.ndarray  # scratch by label, left all False

    def __init__(self, view: GraphView) -> None:
        self._read_accounts(view)
        component = np.frombuffer(view.person, dtype=np.int32).copy()
        self.size = len(component)
        audience_label = np.frombuffer(view.colleagues, dtype=np.int32) == 0
        persons, audience_bounds = self._read_edges(view, component, audience_label)
        incidence, pair = self._first_items(view, persons, audience_bounds)
        self._read_pairs(persons, pair, audience_bounds)
        del pair
        self._read_incidences(persons, incidence, audience_bounds)
        del persons, incidence
        self._read_samples(component, audience_label)
        self.person_marks = np.zeros(self.size, dtype=bool)  # scratch, left all False

    def _read_accounts(self, view: GraphView) -> None:
        """Live accounts by owner, so that account runs make employee runs (ties: the view's order)."""
        self.employees = view.employees
        index = {e.employee_id: i for i, e in enumerate(self.employees)}
        owner = np.array([index[a.owner] for a in view.accounts], dtype=np.int64)
        by_owner = np.argsort(owner, kind="stable")
        self.accounts = [view.accounts[i] for i in by_owner.tolist()]
        self.owner = owner[by_owner]
        self.networks = sorted({a.network for a in self.accounts})
        if len(self.networks) > MAX_NETWORKS:
            raise ValueError(f"{len(self.networks)} networks: the flags hold {MAX_NETWORKS}")
        network_index = {network: k for k, network in enumerate(self.networks)}
        self.network = np.array([network_index[a.network] for a in self.accounts], dtype=np.int64)
        self.naive = np.array([a.naive_followers for a in self.accounts], dtype=np.int64)
        self.complete = np.array([a.stats is None for a in self.accounts], dtype=bool)

    def _read_edges(
        self, view: GraphView, component: np.ndarray, audience_label: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each live edge's follower account (distinct accounts) and audience person (the rest).

        Sets `follower_nodes` and `follower_counts` (employee accounts left
        out); returns the persons, by account, and their runs' bounds.
        """
        nodes, edge_bounds = self._live_edges(view)
        staff = np.zeros(self.size, dtype=bool)
        staff[list(view.employee_nodes)] = True
        audience_account = ~staff[nodes]
        self.follower_nodes = nodes[audience_account]
        self.follower_counts = _run_counts(audience_account, edge_bounds)
        labels = component[nodes]
        del nodes, audience_account
        audience = audience_label[labels]
        persons = labels[audience]
        del labels
        return persons, _bounds(_run_counts(audience, edge_bounds))

    def _live_edges(self, view: GraphView) -> tuple[np.ndarray, np.ndarray]:
        """The live accounts' follower nodes in account runs, and the runs' bounds: no account column."""
        accounts = len(self.accounts)
        position = np.full(view.account_slots, -1, dtype=np.int32)
        position[[a.slot for a in self.accounts]] = np.arange(accounts)
        # Buffer views of the log die with this call: a live one would block the graph's appends.
        log_nodes = np.frombuffer(view.edge_node, dtype=np.int32)
        log_accounts = position[np.frombuffer(view.edge_account, dtype=np.int32)]
        live = (log_nodes >= 0) & (log_accounts >= 0)
        account_of = log_accounts[live]
        del log_accounts  # before the sort allocates its order
        nodes = log_nodes[live][_group_order(account_of, accounts)]
        return nodes, _bounds(np.bincount(account_of, minlength=accounts))

    def _first_items(
        self, view: GraphView, persons: np.ndarray, audience_bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks over `persons` keeping each (account, person) and (employee, person) once.

        Counted twice, a person would inflate every metric. Only linked persons
        and employees with two accounts on one network can repeat one: only
        their edges are sorted.
        """
        employees, accounts = len(self.employees), len(self.accounts)
        shared_label = np.zeros(self.size, dtype=bool)
        shared_label[list(view.linked_persons)] = True
        on_network = self.owner * len(self.networks) + self.network
        same_network = np.zeros(employees, dtype=bool)
        same_network[self.owner[np.bincount(on_network)[on_network] > 1]] = True
        account_runs = np.diff(audience_bounds)
        candidates = shared_label[persons]
        candidates |= np.repeat(same_network[self.owner], account_runs)
        where = np.flatnonzero(candidates)
        account = np.repeat(np.arange(accounts, dtype=np.int32), account_runs)[where]
        first_incidence, first_pair = _first_pairs(self.owner, account, persons[where], self.size)
        incidence, pair = ~candidates, ~candidates
        incidence[where[first_incidence]] = True
        pair[where[first_pair]] = True
        return incidence, pair

    def _read_pairs(
        self, persons: np.ndarray, pair: np.ndarray, audience_bounds: np.ndarray
    ) -> None:
        """(employee, person) pairs, each person once per employee: followers, exclusives, overlaps."""
        self.pair_person = persons[pair].astype(np.int64)  # faster per-employee lookups
        pair_accounts = _bounds(_run_counts(pair, audience_bounds))
        employees = len(self.employees)
        self.pair_bounds = pair_accounts[np.searchsorted(self.owner, np.arange(employees + 1))]

    def _read_incidences(
        self, persons: np.ndarray, incidence: np.ndarray, audience_bounds: np.ndarray
    ) -> None:
        """(account, person) incidences with the runs ordered by flag bit: one slice per reach bit.

        The bit of an account is its network, or `len(networks)` if it is
        stats-only (see `metrics._Reach`).
        """
        self.incidences = incidences = _run_counts(incidence, audience_bounds)  # per account
        bits = np.where(self.complete, self.network, len(self.networks))
        self.incidence_accounts = np.argsort(bits, kind="stable")
        self.incidence_runs = incidences[self.incidence_accounts]
        starts = _bounds(incidences)[self.incidence_accounts] - _bounds(self.incidence_runs)[:-1]
        run_starts = np.repeat(starts.astype(np.int32), self.incidence_runs)
        run_starts += np.arange(len(run_starts), dtype=np.int32)
        self.incidence_person = persons[incidence][run_starts]
        del run_starts
        self.bit_accounts = _bounds(np.bincount(bits, minlength=len(self.networks) + 1))
        self.bit_bounds = _bounds(
            np.bincount(bits, weights=incidences, minlength=len(self.networks) + 1).astype(np.int64)
        )

    def _read_samples(self, component: np.ndarray, audience_label: np.ndarray) -> None:
        """The samples of the stats-only accounts, all at once: what the estimate reads."""
        self.stats_only = np.flatnonzero(~self.complete)
        stats = [(a.stats, a.sample) for a in self.accounts if a.stats is not None]
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

    def incidence_account(self, where: np.ndarray) -> np.ndarray:
        """The account of each incidence at `where` (positions in `incidence_person`)."""
        run = np.searchsorted(_bounds(self.incidence_runs), where, side="right") - 1
        return self.incidence_accounts[run]

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
