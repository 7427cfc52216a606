"""What a snapshot reads of the audience graph: a `GraphView`, filled by `AudienceGraph.view()`.

This is the contract between the package's two halves, and it depends on
neither: the graph (`graph.py`) is the state and fills views; the snapshot
(`frame.py`, `metrics.py`) computes every metric from a view alone and never
imports the graph. A view holds exactly what the snapshot needs: the person of
every node, the edge log, the live accounts and active employees, the
campaign posts, and the edit count that tells how stale a reused result is.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from schemas.events import AccountStats, Employee


class LiveAccount(NamedTuple):
    """An account owned by an active employee: its followers are audience."""

    slot: int  # the account's value in `GraphView.edge_account`
    owner: str  # employee_id
    network: str
    naive_followers: int  # the network's count, else the list's length: what advocacy tools report
    stats: AccountStats | None  # None: the follower list is complete
    sample: list[int]  # nodes of `stats.follower_sample`


@dataclass(frozen=True, slots=True)
class GraphView:
    """The graph's state as a snapshot reads it, valid until the graph's next event.

    Nodes are follower accounts and employee accounts; a person is labelled by
    the id of one of its nodes. The arrays and collections are the graph's own,
    not copies (a snapshot reads millions of edges as buffers): read them and
    never write them; the next event, or snapshot, makes the view stale.
    """

    person: array[int]  # node -> its person's label
    colleagues: array[int]  # label -> employee-account nodes in the person (> 0: never audience)
    linked_persons: Collection[int]  # labels of the persons of two nodes or more
    employee_nodes: Collection[int]  # nodes that are an employee's own account
    employees: list[Employee]  # the active employees' latest roster entries, by employee_id
    accounts: list[LiveAccount]  # by (network, account_id)
    account_slots: int  # accounts ever seen: every `edge_account` value is below it
    edge_node: array[int]  # edge log: the follower node, -1 once unfollowed
    edge_account: array[int]  # edge log: the followed account's slot (`LiveAccount.slot` if live)
    live_edges: int  # edges of the log that are not unfollowed
    edits: int  # follow, link and roster changes applied so far: how stale a reused result is
    campaign_posts: Collection[tuple[str, str]]  # (campaign_id, employee_id) per campaign post
