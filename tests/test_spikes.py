"""The spike detector: one firing and one resolved alert per incident, late events, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scipy.stats import poisson

from bench import alerts as bench_alerts
from pipeline.slipups.spikes import SpikeConfig, SpikeDetector, tail_probability
from schemas.slipups import Alert, SlipUp

T0 = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
# Only the department and company scopes: easier to count alerts in tests.
CONFIG = SpikeConfig(scope_kinds=("company", "department"), warmup_windows=2)


def slipup(
    n: int, at: datetime, department: str = "Sales", rule: str = "profanity_insult/idiot*"
) -> SlipUp:
    return SlipUp(
        slipup_id=f"s{n}:{rule}",
        post_id=f"p{n}",
        event_id=f"e{n}",
        occurred_at=at,
        flagged_at=at,
        employee_id="emp",
        department=department,
        region="emea",
        network="linkedin",
        rule=rule,
        category=rule.split("/")[0],
        severity="medium",
        excerpt="",
        hint="",
    )


def feed(detector: SpikeDetector, slipups: list[SlipUp]) -> list[Alert]:
    return [alert for s in slipups for alert in detector.observe(s)]


def background(hours: int, every: timedelta = timedelta(hours=2)) -> list[SlipUp]:
    """One slip-up every `every`, over `hours`: a quiet department."""
    count = int(timedelta(hours=hours) / every)
    return [slipup(1000 + i, T0 + i * every + timedelta(seconds=7)) for i in range(count)]


def burst(start: datetime, posts: int, first: int = 1) -> list[SlipUp]:
    return [slipup(first + i, start + timedelta(seconds=20 * i)) for i in range(posts)]


def test_tail_probability_is_the_poisson_upper_tail() -> None:
    for count, mean in [(0, 0.1), (1, 0.1), (3, 0.02), (12, 2.5)]:
        assert abs(tail_probability(count, mean) - poisson.sf(count - 1, mean)) < 1e-12


def test_a_quiet_stream_raises_nothing() -> None:
    detector = SpikeDetector(CONFIG)
    assert feed(detector, background(48)) == []
    assert detector.advance(T0 + timedelta(days=3)) == []


def test_one_firing_and_one_resolved_per_incident() -> None:
    detector = SpikeDetector(CONFIG)
    alerts = feed(detector, background(6))
    start = T0 + timedelta(hours=6, minutes=1)
    alerts += feed(detector, burst(start, 8))
    firing = [a for a in alerts if a.status == "firing"]
    assert {(a.scope_kind, a.scope) for a in firing} == {
        ("company", "all"),
        ("department", "Sales"),
    }
    sales = next(a for a in firing if a.scope_kind == "department")
    # Fired as soon as the count was significant (4 posts over a baseline of 0.04), not at 8.
    assert sales.count == 4
    assert sales.window_start == T0 + timedelta(hours=6)
    assert sales.p_value < CONFIG.p_threshold and "[FIRING]" in sales.summary
    assert sales.alert_id == f"{sales.incident_id}:firing"
    alerts += detector.advance(start + 10 * WINDOW)
    resolved = [a for a in alerts if a.status == "resolved"]
    assert sorted(a.incident_id for a in resolved) == sorted(a.incident_id for a in firing)
    sales_resolved = next(a for a in resolved if a.scope_kind == "department")
    # Quiet windows after the burst's window: the third one resolves.
    assert sales_resolved.window_start == sales.window_start + CONFIG.resolve_after_windows * WINDOW
    assert sales_resolved.opened_at == sales.window_start
    assert detector.open_incidents() == {}


def test_a_long_spike_stays_one_incident() -> None:
    detector = SpikeDetector(CONFIG)
    alerts = feed(detector, background(6))
    start = T0 + timedelta(hours=6)
    # Two hours at 4 flagged posts per window: one incident, open the whole time.
    stream = [slipup(i, start + i * timedelta(seconds=75)) for i in range(96)]
    alerts += feed(detector, stream)
    departments = [a for a in alerts if a.scope_kind == "department"]
    assert [a.status for a in departments] == ["firing"]
    baseline_before = departments[0].baseline
    alerts += detector.advance(start + timedelta(hours=3))
    departments = [a for a in alerts if a.scope_kind == "department"]
    assert [a.status for a in departments] == ["firing", "resolved"]
    # The incident's windows barely moved the baseline: the next spike alerts again.
    later = start + timedelta(hours=4)
    again = feed(detector, burst(later, 5, first=500))
    assert [a.status for a in again if a.scope_kind == "department"] == ["firing"]
    assert again[0].baseline < baseline_before + 0.05


def test_replays_and_multiple_rules_count_once() -> None:
    detector = SpikeDetector(CONFIG)
    feed(detector, background(6))
    at = T0 + timedelta(hours=6, minutes=1)
    one_post = [slipup(1, at, rule=rule) for rule in ("a/x", "b/y", "c/z", "d/w")]
    replayed = [slipup(2, at)] * 5
    assert feed(detector, one_post + replayed) == []
    assert detector.duplicates == 4


def test_late_events_within_lateness_count_and_older_ones_are_dropped() -> None:
    detector = SpikeDetector(CONFIG)
    feed(detector, background(6))
    window = T0 + timedelta(hours=6)
    # Time moves on to the next window, then three late posts of the first arrive:
    # within the allowed lateness, they still make that window a spike.
    alerts = feed(detector, [slipup(1, window + timedelta(seconds=10))])
    alerts += feed(detector, [slipup(2, window + WINDOW + timedelta(seconds=30))])
    late = [slipup(n, window + timedelta(seconds=10 * n)) for n in (3, 4, 5)]
    alerts += feed(detector, late)
    assert [a.window_start for a in alerts if a.scope_kind == "department"] == [window]
    # Once the watermark is past that window's end, its posts are dropped and counted.
    detector.advance(window + 4 * WINDOW)
    assert feed(detector, [slipup(9, window + timedelta(seconds=100))]) == []
    assert detector.late_dropped == 1


def test_no_alert_during_warm_up() -> None:
    detector = SpikeDetector(SpikeConfig(scope_kinds=("department",), warmup_windows=12))
    assert feed(detector, burst(T0, 10)) == []


def test_quiet_scopes_have_a_floor() -> None:
    detector = SpikeDetector(CONFIG)
    feed(detector, [slipup(0, T0)])
    detector.advance(T0 + timedelta(days=2))
    # Two posts after two silent days: unusual, but not an incident.
    assert feed(detector, burst(T0 + timedelta(days=2, hours=1), 2, first=10)) == []


def test_deterministic_with_stable_incident_ids() -> None:
    stream = background(6) + burst(T0 + timedelta(hours=6), 8)
    first = feed(SpikeDetector(CONFIG), stream)
    second = feed(SpikeDetector(CONFIG), stream)
    assert first and first == second


def test_unknown_department_is_a_scope_of_its_own() -> None:
    detector = SpikeDetector(SpikeConfig(scope_kinds=("department",), warmup_windows=0))
    alerts = feed(detector, [slipup(i, T0, department="") for i in range(5)])
    assert [a.scope for a in alerts] == ["(unknown)"]


def test_the_quality_benchmark_runs() -> None:
    figures = bench_alerts.run(["--seeds", "1", "--days", "4", "--bursts", "3"])
    assert figures["injected_incidents"] == 3
    assert figures["firing_alerts"] == figures["resolved_alerts"]
    assert figures["detected_at_all"] > 0
