"""Sharing partitions among workers in proportion to the work each can take on.

A worker that holds the one-partition topics (the audience graph, the monitor
and most sinks) has less room for ingest than its peers; `agents/ingest.py`
gives it a smaller share of chorus.raw's partitions through Kafka's group
protocol. This is the arithmetic, with nothing of Kafka.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)  # who receives (a group member)
T = TypeVar("T")  # what is shared (a partition)


def apportion(items: Sequence[T], weights: Mapping[K, float]) -> dict[K, list[T]]:
    """Split `items`, in order, into runs sized in proportion to positive `weights`.

    Largest remainders, ties in key order: every member of a group computes
    the same split.
    """
    keys = sorted(weights, key=repr)
    total = sum(weights.values())
    quotas = {key: len(items) * weights[key] / total for key in keys}
    counts = {key: math.floor(quota) for key, quota in quotas.items()}
    by_remainder = sorted(keys, key=lambda key: counts[key] - quotas[key])  # stable: key order
    for key in by_remainder[: len(items) - sum(counts.values())]:
        counts[key] += 1
    runs: dict[K, list[T]] = {}
    start = 0
    for key in keys:
        runs[key] = list(items[start : start + counts[key]])
        start += counts[key]
    return runs
