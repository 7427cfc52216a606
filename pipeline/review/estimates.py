"""How good the policy is, from what reviewers found: precision, misses, recall, allow-list candidates.

Pure: counts in, estimates out, no Kafka or ClickHouse. The workspace page,
the dashboard and the CLI all show an `Estimate`, so an interval means the same
everywhere. `None` stands for "not enough reviews": nothing reviewed yet.

- **Precision** (flags a reviewer did not dismiss as false positives, of the
  flags reviewed; "not an issue" is the rule right about a harmless post) with
  its 95 % Wilson score interval (scipy), which keeps its coverage near 95 %
  down to a handful of reviews and at 0 or all false positives, where the
  textbook interval collapses to a point.
- **Missed slip-ups per 1,000 unflagged posts**, from spot checks: a uniform
  random share of the unflagged posts (`pipeline.warehouse.review.spot_sample`), Wilson too.
- **Recall**, the share of slip-ups the policy flags: TP / (TP + FN) with
  TP = flagged posts x precision and FN = unflagged posts x miss rate. Its
  interval comes from the two samples it rests on, which are independent
  binomials: each rate is drawn from its Beta posterior under Jeffreys' prior
  (Beta(k + 1/2, n - k + 1/2)), the recall computed for each draw, and the
  2.5th and 97.5th percentiles taken. Jeffreys' interval has frequentist
  coverage close to 95 % even for rates near 0, which the miss rate always is;
  a bootstrap would not do: with no miss found (the usual case) every
  resample finds none either, and the interval would be the point 100 %.
  The interval always holds the point estimate: with no miss found, the
  point is 100 % and the interval reaches it (with no reviewed flag right, 0 %),
  as Jeffreys' interval is extended to the bound when nothing was seen (Brown,
  Cai and DasGupta, 2001). `tests/test_review_estimates.py` measures the
  coverage.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from pipeline.policy import Policy, normalise

CONFIDENCE = 0.95
RECALL_DRAWS = 20_000  # posterior draws: the interval's ends vary by about 0.3 points between seeds
SENTENCE_ENDS = ".!?…"  # where an allow-list phrase stops growing
_PUNCTUATION_AT_ENDS = re.compile(r"^\W+|\W+$")


@dataclass(frozen=True)
class Estimate:
    """A rate measured on a sample: `k` of `n`, its value and 95 % interval, in units of 1/`per`."""

    value: float
    low: float
    high: float
    k: int  # found: true flags, or missed slip-ups
    n: int  # looked at: flags reviewed, or posts spot-checked
    per: int = 1  # 1: a share; 1000: per 1,000 posts

    def __str__(self) -> str:
        if self.per == 1:
            return f"{self.value:.1%} ({self.low:.1%}–{self.high:.1%}; {self.k:,} of {self.n:,})"
        return (
            f"{self.value:.2f} per {self.per:,} ({self.low:.2f}–{self.high:.2f}; "
            f"{self.k:,} of {self.n:,})"
        )


@dataclass(frozen=True)
class Precision:
    """Precision per rule, per category and overall; None where nothing was reviewed."""

    by_rule: dict[str, Estimate | None]
    by_category: dict[str, Estimate | None]
    overall: Estimate | None


@dataclass(frozen=True)
class Recall:
    """The share of slip-ups the policy flags, and the two samples it is estimated from."""

    value: float
    low: float
    high: float
    precision: Estimate  # of flagged posts
    missed: Estimate  # slip-ups per 1,000 unflagged posts
    missed_by_category: dict[str, Estimate]  # per 1,000 unflagged posts
    flagged_posts: int
    unflagged_posts: int

    def __str__(self) -> str:
        return f"{self.value:.1%} ({self.low:.1%}–{self.high:.1%})"


def proportion(k: int, n: int) -> Estimate | None:
    """`k` of `n` with its Wilson score interval; None when `n` is 0."""
    if n == 0:
        return None
    interval = binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Estimate(k / n, float(interval.low), float(interval.high), k, n)


def missed_per_1000(missed: int, checked: int) -> Estimate | None:
    """Missed slip-ups per 1,000 unflagged posts, from `checked` spot checks."""
    share = proportion(missed, checked)
    if share is None:
        return None
    return Estimate(
        share.value * 1000, share.low * 1000, share.high * 1000, missed, checked, per=1000
    )


def precision_estimates(rows: Iterable[Sequence[Any]]) -> Precision:
    """Precision per rule, per category and overall from `review_precision` rows.

    Each row starts with the view's columns rule, category, flags, reviewed,
    false_positives (`SELECT * FROM review_precision` gives them in that order).
    """
    by_rule: dict[str, Estimate | None] = {}
    category_counts: dict[str, tuple[int, int]] = {}
    for rule, category, _flags, reviewed, false_positives, *_ in rows:
        right, seen = int(reviewed) - int(false_positives), int(reviewed)
        by_rule[rule] = proportion(right, seen)
        before = category_counts.get(category, (0, 0))
        category_counts[category] = (before[0] + right, before[1] + seen)
    return Precision(
        by_rule=by_rule,
        by_category={name: proportion(k, n) for name, (k, n) in category_counts.items()},
        overall=proportion(
            sum(k for k, _ in category_counts.values()),
            sum(n for _, n in category_counts.values()),
        ),
    )


def post_precision(flags: Iterable[tuple[str, str, str]]) -> Estimate | None:
    """The share of reviewed flagged posts that are slip-ups, from (post_id, status, reason) of flags.

    Recall counts posts, and a slip-up post often trips several rules while a
    false alarm trips one, so precision over flags would overstate it. A post
    is reviewed once one of its flags is closed (coached, dismissed,
    escalated), and a false alarm when every closed flag of it was dismissed
    as a false positive.
    """
    closed: dict[str, bool] = {}  # post -> all its closed flags were false positives so far
    for post_id, status, reason in flags:
        if status in ("coached", "dismissed", "escalated"):
            false_positive = status == "dismissed" and reason == "false_positive"
            closed[post_id] = closed.get(post_id, True) and false_positive
    return proportion(sum(not fp for fp in closed.values()), len(closed))


def recall(
    *,
    posts: int,
    flagged_posts: int,
    precision: Estimate | None,
    spot_fine: int,
    spot_missed: Mapping[str, int],
    seed: int = 0,
) -> Recall | None:
    """The policy's recall from post counts, the precision of flagged posts and spot checks.

    `precision` should count posts (`post_precision`); `spot_missed` maps a
    category to the slip-ups of it that spot checks found unflagged. None
    when no flagged post was reviewed or no post spot-checked. The interval
    is the module docstring's: Jeffreys posteriors of both rates, `seed`
    making it repeatable.
    """
    missed = sum(spot_missed.values())
    checked = spot_fine + missed
    per_1000 = missed_per_1000(missed, checked)
    if precision is None or per_1000 is None:
        return None
    unflagged = posts - flagged_posts
    true_flagged = flagged_posts * precision.value
    unseen = unflagged * per_1000.value / 1000
    if true_flagged + unseen == 0:
        return None  # no slip-up seen at all, flagged or missed: nothing to recall
    value = true_flagged / (true_flagged + unseen)
    rng = np.random.default_rng(seed)
    k, n = precision.k, precision.n
    p = rng.beta(k + 0.5, n - k + 0.5, RECALL_DRAWS)
    m = rng.beta(missed + 0.5, checked - missed + 0.5, RECALL_DRAWS)
    drawn = flagged_posts * p / (flagged_posts * p + unflagged * m)
    low, high = np.quantile(drawn, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return Recall(
        value=value,
        low=min(float(low), value),
        high=max(float(high), value),
        precision=precision,
        missed=per_1000,
        missed_by_category={
            category: estimate
            for category, count in sorted(spot_missed.items())
            if (estimate := missed_per_1000(count, checked)) is not None
        },
        flagged_posts=flagged_posts,
        unflagged_posts=unflagged,
    )


def matched_phrase(policy: Policy, rule: str, excerpt: str, context_words: int = 1) -> str | None:
    """What `rule` matched in a slip-up's excerpt, with `context_words` words either side.

    The excerpt holds the match in context but does not mark it, so the rule
    is run again on the excerpt. The context words make the phrase the
    harmless use ("Confidential computing") rather than the rule's own word;
    they stop at the end of a sentence. None if the rule does not fire on the
    excerpt (personal data, which the excerpt masks).
    """
    excerpt = unicodedata.normalize("NFC", excerpt)  # as `check` reads it: its offsets
    match = next((m for m in policy.check(excerpt) if m.rule == rule), None)
    if match is None:
        return None
    before = _words(_sentence_tail(excerpt[: match.start]))
    after = _words(_sentence_head(excerpt[match.end :]))
    words = [
        *before[max(len(before) - context_words, 0) :],
        excerpt[match.start : match.end],
        *after[:context_words],
    ]
    return " ".join(" ".join(words).split())


def _words(text: str) -> list[str]:
    """The words of `text` without the punctuation around them (the phrase's own is kept)."""
    stripped = (_PUNCTUATION_AT_ENDS.sub("", word) for word in text.split())
    return [word for word in stripped if word]


def _sentence_tail(text: str) -> str:
    cut = max(text.rfind(end) for end in SENTENCE_ENDS)
    return text[cut + 1 :]


def _sentence_head(text: str) -> str:
    cuts = [found for end in SENTENCE_ENDS if (found := text.find(end)) >= 0]
    return text[: min(cuts)] if cuts else text


def allow_list_candidates(
    dismissed: Iterable[tuple[str, str]], min_count: int = 3
) -> list[tuple[str, str, int]]:
    """Phrases that recur in false-positive dismissals: (rule, phrase, count), most frequent first.

    `dismissed` holds (rule, matched phrase) of flags dismissed as false
    positives (`matched_phrase`). Phrases are the same when their matching
    forms are (case, accents, punctuation aside), as for the allow-list; each
    is shown as most often written. A phrase that is the rule's own term is
    left out: allowing it would switch the rule off, which is a change of the
    rule, not an exception to it.
    """
    spellings: dict[tuple[str, str], Counter[str]] = {}
    for rule, phrase in dismissed:
        key = _matching_form(phrase)
        if key and key != _matching_form(rule.split("/", 1)[-1].rstrip("*")):
            spellings.setdefault((rule, key), Counter())[phrase] += 1
    candidates = [
        (rule, written.most_common(1)[0][0], written.total())
        for (rule, _), written in spellings.items()
        if written.total() >= min_count
    ]
    return sorted(candidates, key=lambda candidate: (-candidate[2], candidate[0], candidate[1]))


def _matching_form(text: str) -> str:
    return " ".join(normalise(text).split())
