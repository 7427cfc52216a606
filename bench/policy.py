"""Policy check throughput, and the slowest hostile post.

`chorus bench policy [--json] [--posts 50000] [--extra-terms 5000] [--slipup-share 0.05]`

The default policy plus `--extra-terms` random terms (as a company with a long
list of code names would have), checked against simulated posts: the
simulator's clean and slip-up templates (`pipeline.simulator.texts`), each varied with
a few random words and numbers so that no two texts are equal. Best of three
runs, single process: the worker scales by processes, one per core.

Then the adversarial set (`adversarial`): posts of the longest allowed length
(`MAX_TEXT_LENGTH`) built to make each part of the scan do its worst (pairs
for near rules, long runs for the detectors' regexes and the folding, many
matches, many allowed spans, many distinct characters). Each is timed on its
first check, when the folding has not seen its characters yet, and the
slowest is reported: a scan runs in the worker, so it bounds how long one post
can hold it.
"""

from __future__ import annotations

import argparse
import random
import string
import time
from typing import Any

from pipeline.policy import Policy
from pipeline.simulator.texts import CLEAN_TEMPLATES, SLIPUP_TEMPLATES
from schemas.events import MAX_TEXT_LENGTH

FILLER = [
    "team",
    "customers",
    "launch",
    "today",
    "week",
    "great",
    "update",
    "new",
    "product",
    "thanks",
    "event",
]


def corpus(posts: int, slipup_share: float, rng: random.Random) -> list[str]:
    clean = [text for texts in CLEAN_TEMPLATES.values() for text in texts]
    risky = [t for langs in SLIPUP_TEMPLATES.values() for texts in langs.values() for t in texts]
    texts = []
    for _ in range(posts):
        base = rng.choice(risky if rng.random() < slipup_share else clean)
        extra = " ".join(rng.choices(FILLER, k=rng.randint(3, 12)))
        texts.append(
            f"{base} {extra} #{rng.randint(1, 9999)} https://example.com/p/{rng.randint(1, 10**6)}"
        )
    return texts


def _fill(unit: str, suffix: str = "") -> str:
    """`unit` repeated up to the longest allowed post, then `suffix`."""
    room = MAX_TEXT_LENGTH - len(suffix)
    return (unit * (room // len(unit) + 1))[:room] + suffix


def adversarial() -> dict[str, str]:
    """Hostile posts of the longest allowed length, by what they stress."""
    half = MAX_TEXT_LENGTH // 2
    return {
        "competitor_and_insult_repeated": _fill("Rivalcorp garbage idiot "),
        "near_anchors_then_far_words": _fill("Contoso ", " ".join(["nul"] * 2000)),
        "near_lists_interleaved_far_apart": _fill(
            "Rivalcorp one two three four five six seven eight garbage "
        ),
        "three_list_near_rules": _fill("revenue will beat Q3 acquisition secret talks sue "),
        "email_backtracking": "x" * (MAX_TEXT_LENGTH - 1) + "@",
        "email_many_labels": _fill("a@" + "b." * 50, "1"),
        "email_spelled_markers": _fill("jane [at] example [dot] "),
        "digits_run": "4" * MAX_TEXT_LENGTH,
        "digits_spaced": _fill("1 "),
        "digits_dashed": _fill("1-"),
        "phones_repeated": _fill("06 12 34 56 78 "),
        "cards_repeated": _fill("4539 1488 0343 6467 "),
        "ibans_repeated": _fill("FR14 2004 1010 0505 0001 3M02 606 "),
        "iban_like_run": _fill("FR14"),
        "spaced_letters": _fill("s t u p i d "),
        "spaced_long_run": _fill("a."),
        "leet_long_word": _fill("a1"),
        "symbols_in_words": _fill("sc@m bull$hit f*ck "),
        "dollars_run": "$" * MAX_TEXT_LENGTH,
        "repeated_letter": "a" * MAX_TEXT_LENGTH,
        "zero_width_inside_words": _fill("i\u200bd\u00adi\u200do\u2060t "),
        "zero_width_only": "\u200b" * MAX_TEXT_LENGTH,
        "cyrillic_lookalikes": _fill("Rіvаlсоrр іs gаrbаgе "),
        "fullwidth": _fill("ＩＤＩＯＴ "),
        "distinct_cjk": "".join(chr(0x20000 + i) for i in range(MAX_TEXT_LENGTH)),
        "distinct_unassigned": "".join(chr(0x50000 + i) for i in range(MAX_TEXT_LENGTH)),
        "combining_marks": _fill("i\u0336d\u0336i\u0336o\u0336t\u0336 "),
        "allowed_spans_repeated": _fill("press@chorus-demo.example +33 1 23 45 67 89 "),
        "pattern_matches_repeated": _fill("our Q3 revenue "),
        "every_word_a_term": _fill(
            "confidential merde scam Contoso arnaque idiot sue guaranteed returns "
        ),
        "one_long_word": "z" * half + "idiot" + "z" * (half - 5),
        "whitespace": " " * MAX_TEXT_LENGTH,
    }


def worst_case(policy: Policy) -> dict[str, Any]:
    """The slowest adversarial post: each timed once, on its first check."""
    posts = adversarial()
    timings = {}
    for kind, text in posts.items():
        started = time.perf_counter()
        policy.check(text)
        timings[kind] = time.perf_counter() - started
    kind = max(timings, key=timings.__getitem__)
    return {
        "adversarial_posts": len(timings),
        "adversarial_worst_kind": kind,
        "adversarial_worst_chars": len(posts[kind]),
        "adversarial_worst_ms": round(timings[kind] * 1000, 1),
        "adversarial_median_ms": round(sorted(timings.values())[len(timings) // 2] * 1000, 1),
    }


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench policy")
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--extra-terms", type=int, default=5_000)
    parser.add_argument("--slipup-share", type=float, default=0.05)
    args = parser.parse_args(argv)
    rng = random.Random(42)
    words = {
        " ".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10)))
            for _ in range(rng.randint(1, 3))
        )
        for _ in range(args.extra_terms)
    }
    started = time.perf_counter()
    policy = Policy.load().with_terms("confidential_leak", sorted(words))
    load_seconds = time.perf_counter() - started
    worst = worst_case(policy)  # first, while the folding has seen none of their characters
    texts = corpus(args.posts, args.slipup_share, rng)
    best = float("inf")
    flagged = 0
    for _ in range(3):
        started = time.perf_counter()
        flagged = sum(1 for text in texts if policy.check(text))
        best = min(best, time.perf_counter() - started)
    return {
        "posts": len(texts),
        "terms": policy.term_count,
        "policy_load_seconds": round(load_seconds, 3),
        "mean_post_chars": round(sum(map(len, texts)) / len(texts), 1),
        "flagged_posts": flagged,
        "posts_per_second_per_core": round(len(texts) / best),
        "microseconds_per_post": round(best / len(texts) * 1e6, 2),
        **worst,
    }
