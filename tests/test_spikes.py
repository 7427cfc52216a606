"""The spike detector: one incident per burst, whatever scopes it fires; late events, replays."""

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
EVERY_SCOPE = SpikeConfig(warmup_windows=2)
SALES = ("department:Sales", "network:linkedin", "category:profanity_insult")


def slipup(
    n: int,
    at: datetime,
    department: str = "Sales",
    rule: str = "profanity_insult/idiot*",
    network: str = "linkedin",
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
        network=network,
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


def elsewhere(n: int, at: datetime) -> SlipUp:
    """A slip-up that shares no scope but the company with `slipup`'s defaults."""
    return slipup(n, at, department="Ops", rule="legal_risk/sue", network="mastodon")


def ops_background(hours: int, every: timedelta) -> list[SlipUp]:
    """Ops flags a post every `every`: the company expects more than Sales does."""
    count = int(timedelta(hours=hours) / every)
    return [elsewhere(5000 + i, T0 + i * every + timedelta(seconds=30)) for i in range(count)]


def by_time(*streams: list[SlipUp]) -> list[SlipUp]:
    return sorted((s for stream in streams for s in stream), key=lambda s: s.occurred_at)


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
    [firing] = alerts
    # The department and the company fire on the same post: one incident, the department's.
    assert firing.status == "firing"
    assert (firing.scope_kind, firing.scope) == ("department", "Sales")
    assert firing.scopes == ("department:Sales", "company:all")
    # Fired as soon as the count was significant (4 posts over a baseline of 0.04), not at 8.
    assert firing.count == 4
    assert firing.window_start == T0 + timedelta(hours=6)
    assert firing.p_value < CONFIG.p_threshold
    assert firing.summary.startswith("[FIRING] slip-up spike in department Sales (+ company): 4 ")
    assert firing.alert_id == f"{firing.incident_id}:firing"
    assert detector.open_incidents() == {
        ("company", "all"): firing.incident_id,
        ("department", "Sales"): firing.incident_id,
    }
    [resolved] = detector.advance(start + 10 * WINDOW)
    assert (resolved.status, resolved.incident_id) == ("resolved", firing.incident_id)
    assert resolved.scopes == firing.scopes and resolved.scope == "Sales"
    # Quiet windows after the burst's window: the third one resolves.
    assert resolved.window_start == firing.window_start + CONFIG.resolve_after_windows * WINDOW
    assert resolved.opened_at == firing.window_start
    assert resolved.summary.startswith("[RESOLVED] slip-up spike in department Sales (+ company)")
    assert detector.open_incidents() == {}


def test_one_burst_is_one_incident_of_every_scope_it_fires() -> None:
    detector = SpikeDetector(EVERY_SCOPE)
    alerts = feed(detector, by_time(background(6), ops_background(6, timedelta(minutes=10))))
    start = T0 + timedelta(hours=6, minutes=1)
    alerts += feed(detector, burst(start, 8))
    # Sales, its network and its category fire on the 4th post; the company, which also
    # expects Ops's posts, on the 7th: it joins the open incident instead of opening one.
    [firing] = alerts
    assert firing.scopes == SALES and firing.count == 4
    assert firing.summary.startswith(
        "[FIRING] slip-up spike in department Sales (+ network linkedin, "
        "category profanity_insult): 4 flagged posts"
    )
    assert set(detector.open_incidents()) == {
        ("company", "all"),
        ("department", "Sales"),
        ("network", "linkedin"),
        ("category", "profanity_insult"),
    }
    assert set(detector.open_incidents().values()) == {firing.incident_id}
    [resolved] = detector.advance(start + 10 * WINDOW)
    assert resolved.incident_id == firing.incident_id
    # Every scope that joined, the opening one first, the others by kind.
    assert resolved.scopes == ("department:Sales", "company:all", *SALES[1:])
    assert "department Sales (+ company, network linkedin, category profanity_insult)" in (
        resolved.summary
    )


def test_a_scope_tipped_over_by_another_department_joins_the_burst() -> None:
    detector = SpikeDetector(EVERY_SCOPE)
    feed(detector, by_time(background(6), ops_background(6, timedelta(minutes=10))))
    start = T0 + timedelta(hours=6, minutes=1)
    [firing] = feed(detector, burst(start, 6))
    assert ("company", "all") not in detector.open_incidents()
    # The 7th flagged post of the window makes the company fire; it is Ops's, whose own
    # scopes are in no incident, but the company's count is mostly the burst's.
    tipping = elsewhere(9000, start + timedelta(minutes=2))
    assert feed(detector, [tipping]) == []
    assert detector.open_incidents()[("company", "all")] == firing.incident_id
    [resolved] = detector.advance(start + 10 * WINDOW)
    assert "company:all" in resolved.scopes and "department:Ops" not in resolved.scopes


def test_simultaneous_bursts_that_share_only_the_company_stay_two_incidents() -> None:
    detector = SpikeDetector(SpikeConfig())  # a warm-up long enough for Ops's rate
    # Ops flags a post every 50 s: the company expects 6 a window and 10 more are no spike.
    feed(detector, by_time(background(6), ops_background(6, timedelta(seconds=50))))
    start = T0 + timedelta(hours=6, minutes=1)
    sales = burst(start, 5)
    legal = [
        slipup(100 + i, s.occurred_at + timedelta(seconds=5), "Legal", "confidential_leak/q3", "x")
        for i, s in enumerate(sales)
    ]
    alerts = feed(detector, by_time(sales, legal))
    # Legal, never seen before, expects less than Sales does and fires first.
    assert [a.scopes for a in alerts] == [
        ("department:Legal", "network:x", "category:confidential_leak"),
        SALES,
    ]
    assert ("company", "all") not in detector.open_incidents()
    resolved = detector.advance(start + 10 * WINDOW)
    assert sorted(a.incident_id for a in resolved) == sorted(a.incident_id for a in alerts)
    assert {a.scopes for a in resolved} == {a.scopes for a in alerts}


def test_while_the_company_fires_every_scope_that_fires_joins_its_incident() -> None:
    detector = SpikeDetector(EVERY_SCOPE)
    feed(detector, background(6))
    start = T0 + timedelta(hours=6, minutes=1)
    [firing] = feed(detector, burst(start, 8))
    assert firing.scopes == (*SALES[:1], "company:all", *SALES[1:])
    # Five minutes later, Ops bursts: the company-wide incident is still open.
    later = start + WINDOW
    assert (
        feed(detector, [elsewhere(200 + i, later + timedelta(seconds=i)) for i in range(6)]) == []
    )
    assert set(detector.open_incidents().values()) == {firing.incident_id}
    [resolved] = detector.advance(later + 10 * WINDOW)
    assert {"department:Ops", "network:mastodon", "category:legal_risk"} < set(resolved.scopes)


def test_scopes_that_fire_when_their_window_closes_group_by_their_posts() -> None:
    detector = SpikeDetector(SpikeConfig(scope_kinds=("company", "department"), warmup_windows=4))
    # Event time starts two windows before the first slip-up. The burst comes while the
    # detector warms up (two windows closed); the department and the company fire only when
    # its window closes, the fourth one after them.
    stream = [slipup(0, T0), *burst(T0 + 2 * WINDOW + timedelta(seconds=1), 8)]
    assert feed(detector, stream) == []
    [firing, resolved] = detector.advance(T0 + timedelta(hours=1))
    assert firing.window_start == T0 + 2 * WINDOW and firing.count == 8
    assert firing.scopes == resolved.scopes == ("department:Sales", "company:all")
    assert resolved.incident_id == firing.incident_id


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
    stream = by_time(background(6), ops_background(6, timedelta(minutes=10)))
    stream += burst(T0 + timedelta(hours=6), 8)
    first = feed(SpikeDetector(EVERY_SCOPE), stream)
    second = feed(SpikeDetector(EVERY_SCOPE), stream)
    assert first and first == second
    # A replay into the same detector (a consumer restarting from an old offset) is ignored.
    detector = SpikeDetector(EVERY_SCOPE)
    feed(detector, stream)
    assert feed(detector, stream[-8:]) == [] and detector.duplicates == 8


def test_a_restored_detector_goes_on_as_if_it_had_not_stopped() -> None:
    """The monitor's restart: slip-ups processed before are replayed with alerts muted."""
    stream = by_time(background(6), ops_background(6, timedelta(minutes=10)))
    stream += burst(T0 + timedelta(hours=6, minutes=1), 8)
    stream += [elsewhere(7000 + i, T0 + timedelta(hours=7, minutes=10 * i)) for i in range(6)]
    end = T0 + timedelta(hours=9)
    crash = len(stream) - 10  # in the middle of the burst: its incident is open
    whole = SpikeDetector(EVERY_SCOPE)
    before = feed(whole, stream[:crash])
    assert [a.status for a in before] == ["firing"]
    assert set(whole.open_incidents().values()) == {before[0].incident_id}
    restored = SpikeDetector(EVERY_SCOPE)
    feed(restored, stream[:crash])  # muted
    assert restored.open_incidents() == whole.open_incidents()
    after = feed(whole, stream[crash:]) + whole.advance(end)
    # Neither fired again nor forgotten: the same resolved alert, with every scope.
    assert feed(restored, stream[crash:]) + restored.advance(end) == after
    assert [(a.status, a.incident_id) for a in after] == [("resolved", before[0].incident_id)]
    assert "company:all" in after[0].scopes


def test_unknown_department_is_a_scope_of_its_own() -> None:
    detector = SpikeDetector(SpikeConfig(scope_kinds=("department",), warmup_windows=0))
    alerts = feed(detector, [slipup(i, T0, department="") for i in range(5)])
    assert [a.scope for a in alerts] == ["(unknown)"]


def test_the_quality_benchmark_runs() -> None:
    figures = bench_alerts.run(["--seeds", "1", "--days", "4", "--bursts", "3"])
    assert figures["injected_incidents"] == 3
    notifications = figures["notifications"]
    assert notifications["firing"] == notifications["resolved"] > 0
    assert figures["detected_at_all"] > 0
    assert figures["notifications_per_injected_incident"] == round(notifications["firing"] / 3, 3)
