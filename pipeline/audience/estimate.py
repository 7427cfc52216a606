"""Persons among *all* followers, where some accounts give only a count and a sample.

An account with `account_stats` tells how many follow it (n) and shows a
uniform sample of them (m ids). Each sampled follower is resolved to its person
(identity links are known for accounts we never saw follow) and falls in one of
three classes: a colleague (a person with an employee account: not audience), a
person the scope's complete lists already count, or a *new* person. The
account's new persons are estimated as n x (new share of its sample).

New persons of two such accounts overlap too (a customer follows three
colleagues on a stats-only network). The complete lists show how much: for
each complete network k, the persons its accounts reach that the scope's
complete lists on the *other* networks do not (the situation of a stats-only
account) are counted once and once per account; their ratio is the overlap
factor w (1: no overlap). The estimate is

    persons = exact persons of the complete lists + w x sum_j n_j x new_share_j

with a 95 % interval from the sampling variance of each new share (binomial,
finite-population corrected) plus the spread of w between complete networks.
docs/audience.md states the assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class SampledAccount:
    """A stats-only account as the estimator sees it."""

    followers_count: int
    sample: np.ndarray  # person labels of the sampled followers, colleagues removed
    colleagues: int  # sampled followers who are employees (not audience)


@dataclass(frozen=True, slots=True)
class OverlapFactor:
    """Distinct new persons per (account, new person) pair, as the complete lists show it."""

    value: float
    variance: float

    @classmethod
    def from_networks(cls, distinct: Sequence[int], incidences: Sequence[int]) -> OverlapFactor:
        """Pool the per-network counts.

        The stats-only network is one more draw from the networks' ratios, not
        their mean: the variance is the spread between networks (a prediction
        interval), plus the uncertainty of the pooled mean.
        """
        total = sum(incidences)
        if total == 0:
            return cls(1.0, 0.0)
        value = sum(distinct) / total
        used = [(d / i, i) for d, i in zip(distinct, incidences, strict=True) if i > 0]
        if len(used) < 2:
            return cls(value, 0.0)
        weights = np.array([i for _, i in used], dtype=float)
        ratios = np.array([r for r, _ in used])
        spread = float(np.average((ratios - value) ** 2, weights=weights))
        effective = weights.sum() ** 2 / (weights**2).sum()
        return cls(value, spread * (1.0 + 1.0 / effective))


@dataclass(frozen=True, slots=True)
class Estimate:
    persons: float
    low: float
    high: float


def estimate_persons(
    exact_persons: int,
    known: np.ndarray,
    accounts: Sequence[SampledAccount],
    overlap: OverlapFactor,
) -> Estimate:
    """`known[label]` is True for the persons the scope's complete lists reach."""
    if not accounts:
        return Estimate(float(exact_persons), float(exact_persons), float(exact_persons))
    # Per account, vectorised (a company scope has thousands of stats-only accounts).
    lengths = np.array([len(account.sample) for account in accounts], dtype=np.int64)
    samples = np.concatenate([account.sample for account in accounts]).astype(np.int64)
    of_account = np.repeat(np.arange(len(accounts)), lengths)
    new = np.bincount(of_account[~known[samples]], minlength=len(accounts))
    size = lengths + np.array([account.colleagues for account in accounts], dtype=np.int64)
    n = np.array([account.followers_count for account in accounts], dtype=float)
    pooled_size = int(size.sum())
    fallback = int(new.sum()) / pooled_size if pooled_size else 1.0
    sampled = size > 0
    # No sample: the scope's pooled share, with its full binomial variance.
    share = np.where(sampled, new / np.maximum(size, 1), fallback)
    size = np.where(sampled, size, 1)
    new_total = float((n * share).sum())
    # Agresti-Coull: a sample that is all new (or all known) still leaves doubt.
    smoothed = (share * size + 1.0) / (size + 2.0)
    correction = np.where(n > 0, np.maximum(0.0, 1.0 - size / np.maximum(n, 1.0)), 0.0)
    variance = float((n * n * smoothed * (1.0 - smoothed) / size * correction).sum())
    persons = exact_persons + overlap.value * new_total
    spread = math.sqrt(overlap.value**2 * variance + new_total**2 * overlap.variance)
    return Estimate(
        persons, max(float(exact_persons), persons - Z95 * spread), persons + Z95 * spread
    )
