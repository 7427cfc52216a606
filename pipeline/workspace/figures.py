"""The policy page's figures: precision per rule and category, estimated recall, allow-list candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.warehouse.review import policy_counts

Run = Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class RuleRow:
    rule: str
    category: str
    flags: int
    reviewed: int
    false_positives: int
    not_an_issue: int
    precision: str


def policy_figures(run: Run, policy_file: Path | None) -> dict[str, Any]:
    counts = policy_counts(run)
    rules = [
        RuleRow(rule, category, flags, reviewed, fp, harmless, _share(reviewed - fp, reviewed))
        for rule, category, flags, reviewed, fp, harmless in counts.rules
    ]
    return {
        "overall": "",
        "recall": "",
        "missed": "",
        "spot_checked": counts.spot_fine + sum(counts.spot_missed.values()),
        "rules": rules,
        "categories": [],
        "most_dismissed": [],
        "candidates": [],
        "policy_file": str(policy_file or ""),
    }


def _share(k: int, n: int) -> str:
    return f"{k / n:.0%}" if n else "not reviewed yet"


def allow_phrase(policy_file: Path | None, rule: str, phrase: str) -> str:
    raise ValueError("not yet")
