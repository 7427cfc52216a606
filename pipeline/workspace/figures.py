"""The policy's figures from the reviewers' verdicts: what the policy page and the dashboard show.

Counts come from ClickHouse (`pipeline.warehouse.review.policy_counts`), the
estimates from `pipeline.review.estimates`, so an interval reads the same on
every page. Allowing a phrase goes through `pipeline.policy.allow_list`, which
writes nothing that would not lint clean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.policy import Policy
from pipeline.policy.allow_list import add_to_allow_list
from pipeline.review.estimates import (
    Estimate,
    allow_list_candidates,
    matched_phrase,
    precision_estimates,
)
from pipeline.warehouse.review import policy_counts, quality

Run = Callable[[str], list[tuple[Any, ...]]]
NOT_REVIEWED = "not reviewed yet"


@dataclass(frozen=True)
class RuleRow:
    rule: str
    category: str
    flags: int
    reviewed: int
    false_positives: int
    not_an_issue: int
    precision: str


@dataclass(frozen=True)
class CategoryRow:
    category: str
    flags: int
    reviewed: int
    false_positives: int
    precision: str
    missed: str  # per 1,000 unflagged posts, from spot checks


def policy_figures(run: Run, policy_path: Path | None, policy: Policy) -> dict[str, Any]:
    """Everything policy.html.j2 shows."""
    counts = policy_counts(run)
    precision = precision_estimates(counts.rules)
    found = quality(counts)
    by_category: dict[str, list[int]] = {}
    for _, category, flags, reviewed, fp, _ in counts.rules:
        sums = by_category.setdefault(category, [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + flags, sums[1] + reviewed, sums[2] + fp
    missed = found.recall.missed_by_category if found.recall else {}
    dismissed = Counter(rule for rule, _ in counts.dismissed_phrases)
    phrases = [
        (rule, phrase)
        for rule, excerpt in counts.dismissed_phrases
        if (phrase := matched_phrase(policy, rule, excerpt)) is not None
    ]
    return {
        "overall": str(precision.overall) if precision.overall else NOT_REVIEWED,
        "recall": str(found.recall) if found.recall else "no spot checks reviewed yet",
        "missed": str(found.recall.missed) if found.recall else "–",
        "spot_checked": counts.spot_fine + sum(counts.spot_missed.values()),
        "rules": [
            RuleRow(rule, category, flags, reviewed, fp, harmless, _text(precision.by_rule[rule]))
            for rule, category, flags, reviewed, fp, harmless in counts.rules
        ],
        "categories": [
            CategoryRow(
                category,
                sums[0],
                sums[1],
                sums[2],
                _text(precision.by_category.get(category)),
                _text(missed.get(category)) if found.recall else "–",
            )
            for category, sums in sorted(by_category.items())
        ],
        "most_dismissed": dismissed.most_common(5),
        "candidates": allow_list_candidates(phrases),
        "policy_file": str(policy_path or ""),
    }


def _text(estimate: Estimate | None) -> str:
    return str(estimate) if estimate is not None else NOT_REVIEWED


def allow_phrase(policy_path: Path | None, rule: str, phrase: str) -> str:
    """Write a confirmed candidate into the policy file; what happened, for the person who asked."""
    if policy_path is None:
        raise ValueError(
            "no policy file to write to: set CHORUS_POLICY_FILE to a copy of the policy"
        )
    added = add_to_allow_list(policy_path, rule, phrase)
    if not added:
        return f"{phrase!r} was allowed already in {policy_path}."
    return (
        f"{phrase!r} added to the allow-list of {policy_path}; the workers apply it when restarted."
    )
