"""Policy check throughput: posts per second on one core.

`chorus bench policy [--json] [--posts 50000] [--extra-terms 5000] [--slipup-share 0.05]`

The default policy plus `--extra-terms` random terms (as a company with a long
list of code names would have), checked against simulated posts: the
simulator's clean and slip-up templates (`pipeline.simulator.texts`), each varied with
a few random words and numbers so that no two texts are equal. Best of three
runs, single process: the worker scales by processes, one per core.
"""

from __future__ import annotations

import argparse
import random
import string
import time
from typing import Any

from pipeline.policy import Policy
from pipeline.simulator.texts import CLEAN_TEMPLATES, SLIPUP_TEMPLATES

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
    }
