"""The incremental dedup graph: who follows which active employee, merged into persons.

Follower accounts are nodes (interned pseudonyms); identity links with a
confidence at or above the threshold merge them into persons, kept as labelled
components (union by size with explicit relabelling, so a node's person is one
array lookup and a snapshot copies every label at once into numpy). Per node the
graph keeps how many *live* employee accounts (owned by an active employee) it
follows; per component, how many of its nodes are live followers and how many
are employee accounts (such a person is a colleague, never audience; an
employee's own account is never an audience account, but their linked
personal accounts are). The company's distinct accounts and persons are
counters updated from those in O(1) per follow, amortised O(log n) per link.

Follow edges also go to an append-only edge log (two int32 arrays: follower
node, account index; an unfollow leaves a tombstone), so that a snapshot reads
millions of edges as two buffer copies instead of iterating Python sets; a
snapshot compacts the log when tombstones outnumber live edges (amortised O(1)
per unfollow).

What costs more, and by how much:
- removing a link (a later event for the pair below the threshold) re-walks the
  links of that one component: O(its nodes + its links);
- (de)activating an employee or changing their accounts walks the followers
  of their accounts: O(their followers);
- department or region moves cost nothing here: scopes are computed by the
  snapshot.

Every `apply` is an absolute assignment, so a replay of any suffix of the
stream leaves the state unchanged: follows and unfollows set an edge (their
Kafka key orders them per account); roster entries, identity links and account
stats keep the latest `occurred_at` (ties: the later arrival), because a pair's
two links may travel on different partitions.

Reading: `distinct_accounts` and `distinct_persons` are the live company
counts; `view()` hands everything else a snapshot needs over as a `GraphView`
(`pipeline.audience.view`), from which `pipeline.audience.metrics` computes
every metric without importing this module. `snapshot()` is the convenience
the agent and the report call: it keeps this graph's `metrics.Snapshots` (what
a snapshot reuses from the last one) and imports `metrics` on its first call.
So the imports run one way (graph -> metrics -> frame -> view, graph -> view),
and importing the graph leaves scipy and networkx (about 0.6 s to import) to
the first snapshot.
"""

from __future__ import annotations

import gc
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.audience.view import GraphView, LiveAccount
from schemas.events import AccountStats, AnyEvent, Employee, Follow, IdentityLink, Post
from schemas.metrics import MetricRow

if TYPE_CHECKING:  # `snapshot` imports it when called (see the module's docstring)
    from pipeline.audience.metrics import Snapshots

AccountKey = tuple[str, str]  # (network, account_id) of an employee's own account


@dataclass(slots=True, eq=False)
class EmployeeAccountState:
    """One employee account: its complete follower list and what the network says."""

    network: str
    account_id: str
    index: int  # position in `AudienceGraph._account_list`, the account column of the edge log
    followers: dict[int, int] = field(default_factory=dict)  # node id -> slot in the edge log
    owner: str | None = None  # employee_id of the latest roster entry listing it
    live: bool = False  # owned by an active employee: its followers are audience
    stats: AccountStats | None = None
    sample: list[int] = field(default_factory=list)  # node ids of stats.follower_sample

    @property
    def naive_followers(self) -> int:
        """What an advocacy tool reports: the network's count, else the list's length."""
        return self.stats.followers_count if self.stats is not None else len(self.followers)


class AudienceGraph:
    """The live audience of the active employees; feed it normalised events with `apply`.

    Read it through `distinct_accounts`, `distinct_persons`, `view()` and
    `snapshot()`; the other attributes are its own bookkeeping.
    """

    def __init__(self, link_threshold: float = 0.5) -> None:
        self.link_threshold = link_threshold
        self._node_ids: dict[str, int] = {}  # pseudonym -> node id
        self._pseudonyms: list[str] = []  # node id -> pseudonym
        self._component = array("i")  # node -> label of its person (a member's node id)
        self._live_refs = array("i")  # node -> live employee accounts it follows
        self._component_live = array("i")  # label -> nodes with live_refs > 0
        self._component_employees = array("i")  # label -> employee-account nodes in it
        self._members: dict[int, list[int]] = {}  # label -> nodes, for components of 2+
        self._employee_listings: dict[int, int] = {}  # node -> roster entries listing it
        self._links: dict[tuple[int, int], tuple[datetime, float]] = {}
        self._adjacency: dict[int, set[int]] = {}  # node -> linked nodes (links >= threshold)
        self._accounts: dict[AccountKey, EmployeeAccountState] = {}
        self._account_list: list[EmployeeAccountState] = []  # by `EmployeeAccountState.index`
        self._edge_node = array("i")  # edge log: follower node, -1 once unfollowed
        self._edge_account = array("i")  # edge log: account index
        self._removed_edges = 0  # tombstones in the edge log
        self._edits = 0  # follow, link and roster changes applied: how stale a cache is
        self._snapshots: Snapshots | None = None  # what a snapshot may reuse from the last one
        self._roster: dict[str, Employee] = {}
        self._campaign_posts: dict[str, tuple[str, str]] = {}  # post_id -> (campaign, employee)
        self.distinct_accounts = 0  # live company count
        self.distinct_persons = 0  # live company count
        self._handlers: dict[type, Callable[[Any], None]] = {
            Follow: self._follow,
            IdentityLink: self._link,
            Employee: self._roster_entry,
            AccountStats: self._stats,
            Post: self._post,
        }

    # -- events ---------------------------------------------------------------

    def apply(self, event: AnyEvent) -> None:
        """Fold one normalised event into the graph (idempotent; other types are ignored)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def apply_all(self, events: Iterable[AnyEvent]) -> None:
        """`apply` each event in order: what the agents call, one decoded message at a time."""
        kind: type | None = None
        handler: Callable[[Any], None] | None = None
        for event in events:
            if type(event) is not kind:  # a message holds events of one type
                kind = type(event)
                handler = self._handlers.get(kind)
            if handler is not None:
                handler(event)

    def _account(self, key: AccountKey) -> EmployeeAccountState:
        account = self._accounts.get(key)
        if account is None:
            account = EmployeeAccountState(*key, index=len(self._account_list))
            self._accounts[key] = account
            self._account_list.append(account)
        return account

    def _follow(self, event: Follow) -> None:
        # The hottest path of the worker: lookups inlined.
        account = self._accounts.get((event.network, event.account_id))
        if account is None:
            account = self._account((event.network, event.account_id))
        node = self._node_ids.get(event.follower_id)
        if event.action == "follow":
            if node is None:
                node = self._new_node(event.follower_id)
            elif node in account.followers:
                return
            account.followers[node] = len(self._edge_node)
            self._edge_node.append(node)
            self._edge_account.append(account.index)
            self._edits += 1
            if account.live:
                self._add_live_ref(node)
        elif node is not None:
            slot = account.followers.pop(node, None)
            if slot is None:
                return
            self._edge_node[slot] = -1
            self._removed_edges += 1
            self._edits += 1
            if account.live:
                self._remove_live_ref(node)

    def _compact_edges(self) -> None:
        """Drop the edge log's tombstones (renumbering every slot) once they are the majority."""
        if self._removed_edges * 2 <= len(self._edge_node):
            return
        nodes = np.frombuffer(self._edge_node, dtype=np.int32)
        alive = nodes >= 0
        slots = np.cumsum(alive, dtype=np.int64) - 1
        kept_nodes = array("i", nodes[alive].tobytes())
        kept_accounts = array(
            "i", np.frombuffer(self._edge_account, dtype=np.int32)[alive].tobytes()
        )
        del nodes  # the buffer view would block appends to the log
        for account in self._account_list:
            if account.followers:
                old = np.fromiter(account.followers.values(), np.int64, len(account.followers))
                account.followers = dict(zip(account.followers, slots[old].tolist(), strict=True))
        self._edge_node, self._edge_account, self._removed_edges = kept_nodes, kept_accounts, 0

    def _new_node(self, pseudonym: str) -> int:
        node = len(self._component)
        self._node_ids[pseudonym] = node
        self._pseudonyms.append(pseudonym)
        self._component.append(node)
        self._live_refs.append(0)
        self._component_live.append(0)
        self._component_employees.append(0)
        return node

    def _node(self, pseudonym: str) -> int:
        node = self._node_ids.get(pseudonym)
        return self._new_node(pseudonym) if node is None else node

    def _add_live_ref(self, node: int) -> None:
        refs = self._live_refs[node] + 1
        self._live_refs[node] = refs
        if refs == 1:
            if node not in self._employee_listings:
                self.distinct_accounts += 1
            label = self._component[node]
            live = self._component_live[label] + 1
            self._component_live[label] = live
            if live == 1 and not self._component_employees[label]:
                self.distinct_persons += 1

    def _remove_live_ref(self, node: int) -> None:
        refs = self._live_refs[node] - 1
        self._live_refs[node] = refs
        if refs == 0:
            if node not in self._employee_listings:
                self.distinct_accounts -= 1
            label = self._component[node]
            live = self._component_live[label] - 1
            self._component_live[label] = live
            if live == 0 and not self._component_employees[label]:
                self.distinct_persons -= 1

    # -- persons ----------------------------------------------------------------

    def _counted(self, label: int) -> int:
        """1 if component `label` is a person the company reaches, else 0."""
        return int(self._component_live[label] > 0 and not self._component_employees[label])

    def _recount(self, before: int, labels: list[int]) -> None:
        self.distinct_persons += sum(map(self._counted, labels)) - before

    def _link(self, event: IdentityLink) -> None:
        node_ids = self._node_ids
        a = node_ids.get(event.account_a)
        if a is None:
            a = self._new_node(event.account_a)
        b = node_ids.get(event.account_b)
        if b is None:
            b = self._new_node(event.account_b)
        if a == b:
            return
        pair = (a, b) if a < b else (b, a)
        previous = self._links.get(pair)
        if previous is not None and event.occurred_at < previous[0]:
            return
        self._links[pair] = (event.occurred_at, event.confidence)
        self._edits += 1
        was = previous is not None and previous[1] >= self.link_threshold
        now = event.confidence >= self.link_threshold
        if now and not was:
            self._adjacency.setdefault(a, set()).add(b)
            self._adjacency.setdefault(b, set()).add(a)
            self._union(a, b)
        elif was and not now:
            self._unlink(a, b)
            self._split(self._component[a])

    def _unlink(self, a: int, b: int) -> None:
        for x, y in ((a, b), (b, a)):
            neighbours = self._adjacency[x]
            neighbours.discard(y)
            if not neighbours:
                del self._adjacency[x]

    def _union(self, a: int, b: int) -> None:
        component = self._component
        live, employees = self._component_live, self._component_employees
        big, small = component[a], component[b]
        if big == small:
            return
        # A label without members is a one-node person: that node's id is the label.
        big_members = self._members.get(big) or [big]
        small_members = self._members.pop(small, None) or [small]
        if len(big_members) < len(small_members):
            big, small = small, big
            big_members, small_members = small_members, big_members
            self._members.pop(small, None)
        before = self._counted(big) + self._counted(small)
        for node in small_members:
            component[node] = big
        big_members.extend(small_members)
        self._members[big] = big_members
        live[big] += live[small]
        employees[big] += employees[small]
        live[small] = employees[small] = 0
        self.distinct_persons += self._counted(big) - before

    def _split(self, label: int) -> None:
        """After a link removal: re-walk the component's remaining links, relabel its pieces."""
        nodes = self._members.pop(label)
        before = self._counted(label)
        self._component_live[label] = self._component_employees[label] = 0
        unseen = set(nodes)
        labels = []
        while unseen:
            start = label if label in unseen else min(unseen)
            unseen.discard(start)
            piece, queue = [start], deque([start])
            while queue:
                for neighbour in self._adjacency.get(queue.popleft(), ()):
                    if neighbour in unseen:
                        unseen.discard(neighbour)
                        piece.append(neighbour)
                        queue.append(neighbour)
            for node in piece:
                self._component[node] = start
            self._component_live[start] = sum(self._live_refs[node] > 0 for node in piece)
            self._component_employees[start] = sum(
                node in self._employee_listings for node in piece
            )
            if len(piece) > 1:
                self._members[start] = piece
            labels.append(start)
        self._recount(before, labels)

    # -- roster -------------------------------------------------------------------

    def _roster_entry(self, event: Employee) -> None:
        previous = self._roster.get(event.employee_id)
        if previous is not None and event.occurred_at < previous.occurred_at:
            return
        self._roster[event.employee_id] = event
        self._edits += 1
        old = (
            {(a.network, a.account_id): a.pseudonym for a in previous.accounts} if previous else {}
        )
        new = {(a.network, a.account_id): a.pseudonym for a in event.accounts}
        for key in old.keys() - new.keys():
            dropped = self._accounts[key]
            if dropped.owner == event.employee_id:
                dropped.owner = None
                self._set_live(dropped, False)
        for key in new:
            account = self._account(key)
            account.owner = event.employee_id
            self._set_live(account, event.active)
        for pseudonym in filter(None, old.values()):  # empty: not through ingest
            self._list_employee_node(self._node(pseudonym), -1)
        for pseudonym in filter(None, new.values()):
            self._list_employee_node(self._node(pseudonym), +1)

    def _set_live(self, account: EmployeeAccountState, live: bool) -> None:
        if account.live == live:
            return
        account.live = live
        change = self._add_live_ref if live else self._remove_live_ref
        for node in account.followers:
            change(node)

    def _list_employee_node(self, node: int, change: int) -> None:
        listings = self._employee_listings.get(node, 0) + change
        if listings:
            self._employee_listings[node] = listings
        else:
            self._employee_listings.pop(node, None)
        if listings != (1 if change > 0 else 0):  # listed before and after
            return
        if self._live_refs[node]:  # an employee's own account is never an audience account
            self.distinct_accounts -= change
        label = self._component[node]
        before = self._counted(label)
        self._component_employees[label] += change
        self._recount(before, [label])

    # -- stats and campaigns ------------------------------------------------------

    def _stats(self, event: AccountStats) -> None:
        account = self._account((event.network, event.account_id))
        if account.stats is None or event.occurred_at >= account.stats.occurred_at:
            account.stats = event
            account.sample = [self._node(follower) for follower in event.follower_sample or ()]

    def _post(self, event: Post) -> None:
        if event.campaign_id is None:
            self._campaign_posts.pop(event.post_id, None)
        else:
            self._campaign_posts[event.post_id] = (event.campaign_id, event.employee_id)

    # -- reading ------------------------------------------------------------------

    def view(self) -> GraphView:
        """What a snapshot reads, valid until the next event (see `GraphView`)."""
        accounts = [  # a live account has an owner: `or ""` only narrows the type
            LiveAccount(a.index, a.owner or "", a.network, a.naive_followers, a.stats, a.sample)
            for _, a in sorted(self._accounts.items())
            if a.live
        ]
        return GraphView(
            person=self._component,
            colleagues=self._component_employees,
            linked_persons=self._members.keys(),
            employee_nodes=self._employee_listings.keys(),
            employees=[e for _, e in sorted(self._roster.items()) if e.active],
            accounts=accounts,
            account_slots=len(self._account_list),
            edge_node=self._edge_node,
            edge_account=self._edge_account,
            live_edges=len(self._edge_node) - self._removed_edges,
            edits=self._edits,
            campaign_posts=self._campaign_posts.values(),
        )

    def linked_accounts(self) -> dict[str, tuple[str, bool]]:
        """Every account an identity link merged with another: (its person, is a colleague).

        The person is named by the smallest pseudonym of the component, which
        stays the same while links elsewhere come and go.
        """
        linked: dict[str, tuple[str, bool]] = {}
        for label, nodes in self._members.items():
            pseudonyms = [self._pseudonyms[node] for node in nodes]
            person = (min(pseudonyms), self._component_employees[label] > 0)
            linked.update(dict.fromkeys(pseudonyms, person))
        return linked

    def snapshot(self, snapshot_id: str, taken_at: datetime) -> list[MetricRow]:
        """Every metric of every scope now, computed from `view()` by `pipeline.audience.metrics`."""
        from pipeline.audience.metrics import Snapshots  # see the module's docstring

        collecting = gc.isenabled()
        gc.disable()  # a snapshot makes no cycles; a collection would walk the graph's objects
        try:
            self._compact_edges()
            if self._snapshots is None:
                self._snapshots = Snapshots()
            return self._snapshots.take(self.view(), snapshot_id, taken_at)
        finally:
            if collecting:
                gc.enable()
