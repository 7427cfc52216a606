"""Spike-detector quality on synthetic slip-up streams with injected incidents.

`chorus bench alerts [--json] [--seeds 20] [--days 30] [--shape decay|uniform]`

Each seed simulates a company for `--days` days: every department flags posts at
its own Poisson rate (2 to 12 a day), and `--bursts` incidents are injected at
random times, each about 12 flagged posts of one category from one department
within 30 minutes. Delivery is shuffled by up to a minute (late, out of order)
and 1 % of the slip-ups are replayed (duplicates).

Burst shapes: `decay` (default) puts the posts at exponential delays (mean 8 min,
cut at 30 min) from the start: an incident starts sharply, like a thread that
catches fire or a leak that is reshared. `uniform` spreads them evenly over the
30 minutes, the hardest case: only ~4 of the 12 fall in the first two windows.

An alerted incident matches a burst when one of its scopes (all that joined it,
as its `resolved` alert lists them) contains the burst and its opening window
overlaps the burst. Figures:
- `detected_within_2_windows`: share of bursts with a matching incident whose
  `firing` alert was raised by a slip-up at most two windows (10 min) after the
  burst's first post (the detector fires as soon as a count is significant);
- `detected_at_all`: share of bursts with a matching incident;
- `false_incidents_per_scope_month_max`: the worst scope's false incidents (that
  match no burst; counted in the scope that opened them) per 30 simulated days;
- `notifications_per_injected_incident`: `firing` alerts (what a team inbox gets,
  false incidents included) per injected burst; `notifications` counts both kinds;
- `scopes_per_incident_mean`: scopes an incident groups, which without grouping
  would each have sent their own notification.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.policy import slipup_id
from pipeline.slipups.spikes import Scope, SpikeConfig, SpikeDetector, scope_name
from schemas.slipups import SlipUp

START = datetime(2026, 1, 5, tzinfo=UTC)
NETWORKS = ("linkedin", "x", "instagram", "facebook", "mastodon")
CATEGORIES = (
    "confidential_leak",
    "financial_disclosure",
    "profanity_insult",
    "competitor_attack",
    "personal_data",
    "legal_risk",
)
BURST_MINUTES = 30


@dataclass(frozen=True)
class Burst:
    start: datetime
    department: str
    category: str
    networks: frozenset[str]

    def scopes(self) -> set[str]:
        """`Alert.scopes` names of the scopes the burst is in."""
        scopes: set[Scope] = {
            ("company", "all"),
            ("department", self.department),
            ("category", self.category),
            *(("network", network) for network in self.networks),
        }
        return {scope_name(scope) for scope in scopes}


def _slipup(rng: random.Random, post: int, at: datetime, department: str, category: str) -> SlipUp:
    post_id = f"post-{post}"
    rule = f"{category}/rule"
    return SlipUp(
        slipup_id=slipup_id(post_id, rule),
        post_id=post_id,
        event_id=f"event-{post}",
        occurred_at=at,
        flagged_at=at,
        employee_id=f"employee-{rng.randrange(2500)}",
        department=department,
        region="emea",
        network=rng.choice(NETWORKS),
        rule=rule,
        category=category,
        severity="medium",
        excerpt="",
        hint="",
    )


def generate(
    seed: int, days: int, bursts: int, departments: int, shape: str
) -> tuple[list[SlipUp], list[Burst]]:
    """One simulated stream, in delivery order, and the incidents injected in it."""
    rng = random.Random(seed)
    end = days * 86400.0
    rates = {f"dept-{i}": rng.uniform(2, 12) / 86400 for i in range(departments)}
    events: list[SlipUp] = []
    for department, rate in rates.items():
        t = rng.expovariate(rate)
        while t < end:
            category = rng.choice(CATEGORIES)
            events.append(
                _slipup(rng, len(events), START + timedelta(seconds=t), department, category)
            )
            t += rng.expovariate(rate)
    injected = []
    # Bursts start after the first day (warm-up) and are at least 6 hours apart.
    slots = rng.sample(range(4, days * 4 - 1), bursts)
    for slot in sorted(slots):
        start = slot * 6 * 3600 + rng.uniform(0, 5 * 3600)
        department, category = rng.choice(sorted(rates)), rng.choice(CATEGORIES)
        delays: list[float] = []
        while len(delays) < rng.randint(10, 14):
            delay = rng.expovariate(1 / 480) if shape == "decay" else rng.uniform(0, 1800)
            if delay < BURST_MINUTES * 60:
                delays.append(delay)
        delays = [d - min(delays) for d in delays]  # the first post is the start
        burst_events = [
            _slipup(
                rng, len(events) + i, START + timedelta(seconds=start + d), department, category
            )
            for i, d in enumerate(delays)
        ]
        events += burst_events
        injected.append(
            Burst(
                START + timedelta(seconds=start),
                department,
                category,
                frozenset(e.network for e in burst_events),
            )
        )
    replays = rng.sample(events, len(events) // 100)
    stream = events + replays
    # Delivery order: event time plus up to a minute of delay.
    stream.sort(key=lambda e: e.occurred_at.timestamp() + rng.uniform(0, 60))
    return stream, injected


def evaluate(seed: int, args: argparse.Namespace, config: SpikeConfig) -> dict[str, Any]:
    stream, bursts = generate(seed, args.days, args.bursts, args.departments, args.shape)
    detector = SpikeDetector(config)
    # Each alert with the event time it was raised at: the slip-up's, or the watermark's.
    alerts = [
        (alert, slipup.occurred_at) for slipup in stream for alert in detector.observe(slipup)
    ]
    end = START + timedelta(days=args.days + 1)
    alerts += [(alert, end) for alert in detector.advance(end)]
    fired = [(alert, at) for alert, at in alerts if alert.status == "firing"]
    resolved = len(alerts) - len(fired)
    scopes: dict[str, set[str]] = {}  # incident id -> every scope that joined it
    for alert, _ in alerts:
        scopes.setdefault(alert.incident_id, set()).update(alert.scopes)
    window = timedelta(seconds=config.window_seconds)
    burst_span = timedelta(minutes=BURST_MINUTES)
    in_time = at_all = 0
    explained: set[str] = set()
    for burst in bursts:
        burst_scopes = burst.scopes()
        matching = [
            (alert, at)
            for alert, at in fired
            if scopes[alert.incident_id] & burst_scopes
            and alert.window_end > burst.start
            and alert.window_start < burst.start + burst_span + window
        ]
        explained.update(alert.incident_id for alert, _ in matching)
        at_all += bool(matching)
        in_time += any(at - burst.start <= 2 * window for _, at in matching)
    false_by_scope: dict[tuple[str, str], int] = {}
    for alert, _ in fired:
        if alert.incident_id not in explained:
            scope = (alert.scope_kind, alert.scope)
            false_by_scope[scope] = false_by_scope.get(scope, 0) + 1
    return {
        "bursts": len(bursts),
        "in_time": in_time,
        "at_all": at_all,
        "false": false_by_scope,
        "firing": len(fired),
        "resolved": resolved,
        "scopes_joined": sum(len(joined) for joined in scopes.values()),
        "late_dropped": detector.late_dropped,
        "duplicates": detector.duplicates,
        "slipups": len(stream),
        "scopes": len(
            {("company", "all")}
            | {
                (kind, getattr(e, kind))
                for e in stream
                for kind in ("department", "network", "category")
            }
        ),
    }


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench alerts")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bursts", type=int, default=10, help="injected incidents per seed")
    parser.add_argument("--departments", type=int, default=8)
    parser.add_argument("--shape", choices=("decay", "uniform"), default="decay")
    args = parser.parse_args(argv)
    config = SpikeConfig()
    results = [evaluate(seed, args, config) for seed in range(args.seeds)]
    bursts = sum(r["bursts"] for r in results)
    scope_months = args.days / 30
    worst = max((n for r in results for n in r["false"].values()), default=0)
    false_total = sum(n for r in results for n in r["false"].values())
    firing = sum(r["firing"] for r in results)
    return {
        "seeds": args.seeds,
        "days_per_seed": args.days,
        "burst_shape": args.shape,
        "injected_incidents": bursts,
        "detected_within_2_windows": round(sum(r["in_time"] for r in results) / bursts, 4),
        "detected_at_all": round(sum(r["at_all"] for r in results) / bursts, 4),
        "false_incidents": false_total,
        "false_incidents_per_scope_month_max": round(worst / scope_months, 3),
        "false_incidents_per_scope_month_mean": round(
            false_total / sum(r["scopes"] * scope_months for r in results), 4
        ),
        "notifications_per_injected_incident": round(firing / bursts, 3),
        "notifications": {"firing": firing, "resolved": sum(r["resolved"] for r in results)},
        "scopes_per_incident_mean": round(
            sum(r["scopes_joined"] for r in results) / max(firing, 1), 2
        ),
        "slipups": sum(r["slipups"] for r in results),
        "late_dropped": sum(r["late_dropped"] for r in results),
        "duplicates_ignored": sum(r["duplicates"] for r in results),
        "config": vars(config) | {"scope_kinds": list(config.scope_kinds)},
    }
