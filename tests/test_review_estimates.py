"""The review's estimates: hand-made cases, interval coverage, and the simulator's truth end to end.

Coverage is measured two ways: a direct simulation of the two samples the
recall rests on (a finite population of flagged and unflagged posts, reviews
and spot checks drawn without replacement, as in the workspace) over hundreds
of seeds, and the real chain on small simulated companies: the simulator,
the default policy's scan, simulated reviewers, the estimates, the truth.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from pathlib import Path

import numpy as np
import pytest

from pipeline.policy import Policy, lint
from pipeline.policy.allow_list import add_to_allow_list
from pipeline.policy.policy_file import DEFAULT_POLICY
from pipeline.review.estimates import (
    Estimate,
    Recall,
    allow_list_candidates,
    matched_phrase,
    missed_per_1000,
    post_precision,
    precision_estimates,
    proportion,
    recall,
)
from pipeline.review.lifecycle import FINAL
from pipeline.review.simulated import FlagRow, SpotCheck, simulated_reviews
from pipeline.simulator.company import Simulation, simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.texts import CLEAN_TEMPLATES, FALSE_ALARM_TEMPLATES, SLIPUP_TEMPLATES
from pipeline.slipups.scan import scan
from schemas.events import Post, raw_decoder
from schemas.review import ReviewAction
from schemas.slipups import SlipUp

POLICY = Policy.load()

# --- hand-made cases -------------------------------------------------------------------------------


def test_proportion_is_wilsons_interval_and_none_without_reviews() -> None:
    assert proportion(0, 0) is None
    estimate = proportion(8, 10)
    assert estimate is not None
    assert (estimate.k, estimate.n, estimate.value) == (8, 10, 0.8)
    assert estimate.low == pytest.approx(0.4902, abs=1e-4)  # Wilson: (8 + 1.92) / 13.84 ± ...
    assert estimate.high == pytest.approx(0.9433, abs=1e-4)
    none_right = proportion(0, 12)
    assert none_right is not None and none_right.low == 0 < none_right.high < 0.3
    all_right = proportion(12, 12)
    assert all_right is not None and 0.7 < all_right.low < all_right.high == pytest.approx(1)
    assert str(estimate) == "80.0% (49.0%–94.3%; 8 of 10)"


def test_precision_per_rule_per_category_and_overall() -> None:
    rows = [
        # rule, category, flags, reviewed, false_positives, not_an_issue, coached, escalated, precision
        ("c/a", "c", 30, 20, 5, 2, 13, 0, 0.75),
        ("c/b", "c", 4, 0, 0, 0, 0, 0, float("nan")),
        ("d/x", "d", 10, 10, 10, 0, 0, 0, 0.0),
    ]
    estimates = precision_estimates(rows)
    assert estimates.by_rule["c/b"] is None  # nothing reviewed: no number
    a, x = estimates.by_rule["c/a"], estimates.by_rule["d/x"]
    assert a is not None and (a.k, a.n, a.value) == (15, 20, 0.75)
    assert x is not None and (x.k, x.n, x.value, x.low) == (0, 10, 0.0, 0.0)  # all false
    c, overall = estimates.by_category["c"], estimates.overall
    assert c is not None and (c.k, c.n) == (15, 20)
    assert overall is not None and (overall.k, overall.n) == (15, 30)
    assert precision_estimates([]).overall is None


def test_missed_per_1000() -> None:
    assert missed_per_1000(0, 0) is None
    none_found = missed_per_1000(0, 400)
    assert none_found is not None
    assert none_found.value == none_found.low == 0 and 9 < none_found.high < 10
    assert none_found.per == 1000 and str(none_found) == "0.00 per 1,000 (0.00–9.51; 0 of 400)"
    two = missed_per_1000(2, 1000)
    assert two is not None and two.value == pytest.approx(2.0) and two.low < 2 < two.high


def test_post_precision_counts_a_post_once() -> None:
    flags = [
        ("p1", "coached", ""),
        ("p1", "dismissed", "false_positive"),  # another rule on a slip-up post
        ("p2", "dismissed", "false_positive"),
        ("p3", "dismissed", "not_an_issue"),  # the rule was right
        ("p4", "open", ""),  # not reviewed
        ("p5", "claimed", ""),
    ]
    assert post_precision(flags) == proportion(2, 3)
    assert post_precision([("p4", "open", "")]) is None


def test_recall_by_hand() -> None:
    precision = proportion(90, 100)
    # 10,000 posts, 100 flagged (90 % slip-ups), 1 % of 500 spot checks missed:
    # TP = 90, FN = 9,900 x 1 % = 99.
    found = recall(
        posts=10_000, flagged_posts=100, precision=precision, spot_fine=495, spot_missed={"x": 5}
    )
    assert found is not None
    assert found.value == pytest.approx(90 / 189)
    assert 0 < found.low < found.value < found.high < 1
    assert found.missed.value == pytest.approx(10.0) and found.unflagged_posts == 9_900
    assert found.precision == precision and set(found.missed_by_category) == {"x"}
    same = recall(
        posts=10_000, flagged_posts=100, precision=precision, spot_fine=495, spot_missed={"x": 5}
    )
    assert same == found  # seeded


def test_recall_at_the_edges() -> None:
    checks = partial(recall, posts=10_000, flagged_posts=60, precision=proportion(45, 50))
    assert checks(spot_fine=0, spot_missed={}) is None  # nothing spot-checked
    assert (
        recall(posts=10_000, flagged_posts=60, precision=None, spot_fine=100, spot_missed={})
        is None
    )  # no flag reviewed
    perfect = checks(spot_fine=400, spot_missed={})
    assert perfect is not None  # no miss found: 100 %, and the interval reaches it
    assert perfect.value == perfect.high == 1.0 and 0.3 < perfect.low < 0.9
    all_false = recall(
        posts=10_000,
        flagged_posts=60,
        precision=proportion(0, 50),
        spot_fine=390,
        spot_missed={"legal_risk": 10},
    )
    assert all_false is not None and all_false.value == all_false.low == 0.0
    assert 0 < all_false.high < 0.2
    nothing = recall(
        posts=10_000, flagged_posts=60, precision=proportion(0, 50), spot_fine=400, spot_missed={}
    )
    assert nothing is None  # no slip-up anywhere: no recall to speak of
    all_missed = checks(spot_fine=0, spot_missed={"x": 1})
    assert all_missed is not None and all_missed.low <= all_missed.value <= all_missed.high


def spot_checks(posts: tuple[Post, ...], flagged: set[str], seed: int) -> list[Post]:
    """A uniform sample of the unflagged posts, as the workspace's SQL draws (`spot_sample`)."""
    rng = random.Random(seed)
    return [p for p in posts if p.post_id not in flagged and rng.random() < SPOT_SHARE]


# --- coverage over seeds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flagged", "precision", "unflagged", "miss_rate", "spot_share"),
    [
        (400, 0.9, 40_000, 0.0025, 0.01),  # about 1 miss per spot-check sample of 400
        (330, 0.915, 40_000, 0.0004, 0.01),  # the simulator's defaults: a miss is rare
        (60, 0.8, 2_000, 0.02, 0.1),  # a small company
    ],
)
def test_the_recall_interval_covers_the_truth(
    flagged: int, precision: float, unflagged: int, miss_rate: float, spot_share: float
) -> None:
    """A finite company per seed; reviews (70 %) and spot checks drawn from it without replacement."""
    seeds, covered, shown = 200, 0, 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        true_flagged = int(rng.binomial(flagged, precision))
        missed = int(rng.binomial(unflagged, miss_rate))
        reviewed = round(0.7 * flagged)
        right = int(rng.hypergeometric(true_flagged, flagged - true_flagged, reviewed))
        checked = round(spot_share * unflagged)
        found = int(rng.hypergeometric(missed, unflagged - missed, checked))
        truth = true_flagged / (true_flagged + missed)
        estimate = recall(
            posts=flagged + unflagged,
            flagged_posts=flagged,
            precision=proportion(right, reviewed),
            spot_fine=checked - found,
            spot_missed={"x": found},
        )
        if estimate is not None:
            shown += 1
            covered += estimate.low <= truth <= estimate.high
    assert shown == seeds
    assert covered / shown >= 0.9, covered / shown


@cache
def company(seed: int) -> tuple[Simulation, tuple[Post, ...]]:
    """A small company where the policy errs often, so that a few reviews find its errors."""
    config = SimulationConfig(
        seed=seed,
        employees=80,
        days=14,
        slipup_rate=0.05,
        false_alarm_rate=0.03,
        missed_rate=0.03,
        spikes=0,
    )
    simulation = simulate(config)
    posts = tuple(
        event
        for line in simulation.lines()
        if b'"type":"post"' in line and isinstance(event := raw_decoder.decode(line), Post)
    )
    return simulation, posts


def flags_of(posts: tuple[Post, ...]) -> list[SlipUp]:
    result = scan(POLICY, posts, lambda _: ("", ""), datetime(2027, 1, 1, tzinfo=UTC))
    assert not result.failed
    return result.slipups


def final_states(actions: list[ReviewAction]) -> dict[str, ReviewAction]:
    """Each flag's last applied action (what `review_status` shows)."""
    last: dict[str, ReviewAction] = {}
    for action in actions:
        assert action.outcome == "applied"
        if action.flag_id not in last or action.version > last[action.flag_id].version:
            last[action.flag_id] = action
    return last


SPOT_SHARE = 0.3  # of the unflagged posts: many more than in production, for a small company


def test_the_policy_flags_what_the_truth_says_and_reviewers_find_its_errors() -> None:
    simulation, posts = company(1)
    truth = simulation.truth
    slipups = flags_of(posts)
    flagged = {s.post_id for s in slipups}
    false_alarms, missed = truth["review"]["false_alarms"], truth["review"]["missed"]
    assert flagged == set(truth["slipups"]["post_ids"])
    assert set(false_alarms) <= flagged and not set(missed) & flagged
    assert len(false_alarms) > 5 and len(missed) > 5
    for post_id, rule in false_alarms.items():
        assert {s.rule for s in slipups if s.post_id == post_id} == {rule}

    spots = spot_checks(posts, flagged, 1)
    actions = simulated_reviews(slipups, spots, truth, seed=5)
    by_post = {p.post_id: p for p in posts}
    for action in actions:
        assert action.occurred_at > by_post[action.post_id].occurred_at
    assert len({a.action_id for a in actions}) == len(actions)
    states = final_states(actions)
    reviewed = [s for s in slipups if s.slipup_id in states]
    assert 0.6 < len(reviewed) / len(slipups) < 0.8
    for state in states.values():
        assert state.status in FINAL[state.flag_kind]
        harmless = state.post_id in false_alarms
        assert (state.reason == "false_positive") == harmless
        if state.flag_kind == "spot_check":
            assert state.status == ("missed" if state.post_id in missed else "fine")
            assert state.category == missed.get(state.post_id, "")
    assert {s.status for s in states.values()} >= {"coached", "dismissed", "fine", "missed"}
    assert {s.reviewer for s in states.values()} > {"amelie"}

    # The same flags in another order, the same actions: replays collapse on their ids.
    shuffled = random.Random(3).sample(slipups, len(slipups))
    assert simulated_reviews(shuffled, spots, truth, seed=5) == actions


def estimates_of(seed: int) -> tuple[Estimate | None, Recall | None, dict[str, float]]:
    """The post precision and recall the reviews of company `seed` give, and their truth."""
    simulation, posts = company(seed)
    slipups = flags_of(posts)
    flagged = {s.post_id for s in slipups}
    spots = spot_checks(posts, flagged, seed)
    states = final_states(simulated_reviews(slipups, spots, simulation.truth, seed=seed))
    flag_states = [
        (s.post_id, s.status, s.reason) for s in states.values() if s.flag_kind == "flag"
    ]
    spot_states = [s for s in states.values() if s.flag_kind == "spot_check"]
    precision = post_precision(flag_states)
    estimate = recall(
        posts=len(posts),
        flagged_posts=len(flagged),
        precision=precision,
        spot_fine=sum(s.status == "fine" for s in spot_states),
        spot_missed=Counter(s.category for s in spot_states if s.status == "missed"),
    )
    review = simulation.truth["review"]
    return precision, estimate, {"precision": review["precision"], "recall": review["recall"]}


def test_estimates_from_simulated_reviews_cover_the_simulators_truth() -> None:
    seeds = range(1, 11)  # 200 seeds cover 99.5 % (precision) and 96.5 % (recall): 90 s
    precision_covered = recall_covered = 0
    for seed in seeds:
        precision, estimate, truth = estimates_of(seed)
        assert precision is not None and estimate is not None
        precision_covered += precision.low <= truth["precision"] <= precision.high
        recall_covered += estimate.low <= truth["recall"] <= estimate.high
    assert precision_covered >= 9 and recall_covered >= 9, (precision_covered, recall_covered)


# --- allow-list candidates -------------------------------------------------------------------------


def test_matched_phrase_recovers_the_match_with_a_word_of_context() -> None:
    text = "Proud of the team. Confidential computing is the theme of our next meetup, come along."
    [match] = POLICY.check(text)
    assert matched_phrase(POLICY, match.rule, match.excerpt) == "Confidential computing"
    assert matched_phrase(POLICY, match.rule, match.excerpt, context_words=0) == "Confidential"
    assert matched_phrase(POLICY, "profanity_insult/crap", match.excerpt) is None
    [phone] = POLICY.check("Call me on +33 6 12 34 56 78")
    assert matched_phrase(POLICY, phone.rule, phone.excerpt) is None  # masked in the excerpt


def test_allow_list_candidates_are_the_recurring_phrases() -> None:
    dismissed = [
        ("confidential_leak/confidential", "Confidential computing"),
        ("confidential_leak/confidential", "confidential computing"),
        ("confidential_leak/confidential", "Confidential computing"),
        ("confidential_leak/confidential", "Confidential"),  # the rule's own term: never
        ("confidential_leak/confidential", "Confidential"),
        ("confidential_leak/confidential", "Confidential"),
        ("confidential_leak/confidential", "confidential data"),  # twice only
        ("confidential_leak/confidential", "confidential data"),
        ("competitor_attack/disparaging_competitor", "Contoso half-marathon, worst"),
        ("competitor_attack/disparaging_competitor", "Contoso half marathon worst"),
        ("competitor_attack/disparaging_competitor", "contoso half-marathon, worst"),
        ("competitor_attack/disparaging_competitor", "Contoso half-marathon, worst"),
    ]
    assert allow_list_candidates(dismissed) == [
        ("competitor_attack/disparaging_competitor", "Contoso half-marathon, worst", 4),
        ("confidential_leak/confidential", "Confidential computing", 3),
    ]
    assert allow_list_candidates(dismissed, min_count=2)[-1] == (
        "confidential_leak/confidential",
        "confidential data",
        2,
    )
    assert allow_list_candidates([]) == []


def test_false_alarms_become_candidates_and_allowing_them_spares_the_slipups(
    tmp_path: Path,
) -> None:
    """From the simulator's false alarms to a policy file that no longer flags them."""
    dismissed = []
    for lang, templates in FALSE_ALARM_TEMPLATES.items():
        for rule, text in templates:
            for clean in CLEAN_TEMPLATES[lang][:3]:
                [match] = POLICY.check(f"{clean} {text}")
                phrase = matched_phrase(POLICY, rule, match.excerpt)
                assert phrase is not None, text
                dismissed.append((rule, phrase))
    candidates = allow_list_candidates(dismissed)
    assert {rule for rule, _, _ in candidates} == {
        rule for templates in FALSE_ALARM_TEMPLATES.values() for rule, _ in templates
    }
    policy_path = tmp_path / "policy.toml"
    shutil.copy(DEFAULT_POLICY, policy_path)
    for rule, phrase, _ in candidates:
        assert add_to_allow_list(policy_path, rule, phrase)
    assert lint(policy_path) == []
    allowing = Policy.load(policy_path)
    for templates in FALSE_ALARM_TEMPLATES.values():
        for _, text in templates:
            assert allowing.check(text) == [], text
    for category, by_lang in SLIPUP_TEMPLATES.items():
        for texts in by_lang.values():
            for text in texts:
                assert category in {m.category for m in allowing.check(text)}, text


def test_reviews_come_after_their_post_whatever_its_time() -> None:
    at = datetime(2026, 10, 3, 12, tzinfo=UTC)
    flag = FlagRow("s1", "p1", "emp1", "profanity_insult/crap", "profanity_insult", at)
    spot = SpotCheck("p2", "emp2", at)
    truth = {"review": {"false_alarms": {}, "missed": {"p2": "legal_risk"}}}
    actions = simulated_reviews([flag], [spot], truth, seed=1, share=1.0)
    assert all(at < a.occurred_at < at + timedelta(days=30) for a in actions)
    final = final_states(actions)
    assert final["spot:p2"].status == "missed" and final["spot:p2"].category == "legal_risk"
    assert final["s1"].status in ("coached", "dismissed", "escalated")
    assert simulated_reviews([flag], [], truth, seed=1, share=0.0) == []
