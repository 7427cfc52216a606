"""Slip-up spike detection: one alert when an incident opens, one when it resolves.

Pure and deterministic (no Kafka, no clock): `SpikeDetector.observe(slipup)` and
`SpikeDetector.advance(watermark)` return the `Alert`s that the input causes.

Model. Flagged posts are counted in tumbling event-time windows (5 min) per scope:
the company, each department, network and category. A post counts once per scope
and window however many rules fired on it (one rant with five insults is one
slip-up, not a spike), and a replayed slip-up (same `slipup_id`) never counts
twice. Each scope has a baseline, the expected count per window: an EWMA over its
closed windows (a plain mean while it has fewer than 1/alpha windows), never
below a floor so that a scope that was quiet so far does not alert on two posts.
A window is significant when P(X >= count) under Poisson(baseline) is below
`p_threshold` and the count is at least `min_count`.

Hysteresis. A significant window opens an incident (one `firing` Alert) as soon
as its count gets there, without waiting for the window to close: counts only
grow, so the decision cannot be undone. The incident stays open while windows
stay high and resolves (one `resolved` Alert) after `resolve_after_windows`
consecutive quiet windows (P(X >= count) >= `quiet_p`). While it is open the
baseline learns only very slowly (`incident_alpha`), so a long spike does not
become the new normal and close itself. The incident id is a hash of the scope
and the start of its opening window: replaying the same stream gives the same ids.

Late events. A window closes when the watermark (the latest event time seen minus
`allowed_lateness_windows` windows) passes its end. A slip-up for a closed window
is dropped and counted in `late_dropped`: adding it to the current window would
let a replay of old slip-ups (a consumer restarting from an old offset) open a
false incident now, and its own window's decision has already been taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Literal

from scipy.special import pdtrc

from schemas.slipups import Alert, SlipUp

ScopeKind = Literal["company", "department", "network", "category"]
Scope = tuple[ScopeKind, str]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("company", "department", "network", "category")
UNKNOWN_DEPARTMENT = "(unknown)"


@dataclass(frozen=True)
class SpikeConfig:
    """Every knob of the detector; the defaults are what `bench/alerts.py` evaluates."""

    window_seconds: int = 300
    allowed_lateness_windows: int = 2
    p_threshold: float = 1e-5  # a window this unlikely under the baseline is a spike...
    min_count: int = 3  # ...if it also has at least this many flagged posts
    quiet_p: float = 0.01  # a window at least this likely under the baseline is quiet
    resolve_after_windows: int = 3  # consecutive quiet windows that resolve an incident
    ewma_alpha: float = 0.005  # about 17 hours of 5-minute windows
    incident_alpha: float = 0.0005  # how fast the baseline adapts while an incident is open
    baseline_floor: float = 0.02  # expected count per window, at least (about 6 a day)
    warmup_windows: int = 12  # no alert before the detector has seen this many windows
    scope_kinds: tuple[ScopeKind, ...] = SCOPE_KINDS


def tail_probability(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    return 1.0 if count <= 0 else float(pdtrc(count - 1, mean))


def incident_id(scope: Scope, opened_at: datetime) -> str:
    """Stable id of the incident of `scope` that opened in the window starting at `opened_at`."""
    key = f"{scope[0]}\x00{scope[1]}\x00{opened_at.isoformat()}"
    return "i" + blake2b(key.encode(), digest_size=12).hexdigest()


@dataclass
class _Incident:
    id: str
    opened_window: int  # epoch seconds of the opening window's start
    baseline: float  # the baseline when it opened: what "normal" is for its alerts
    quiet_run: int = 0


@dataclass
class _ScopeState:
    ewma: float = 0.0
    learned: int = 0  # windows the baseline has learned from
    incident: _Incident | None = None


@dataclass
class SpikeDetector:
    """Windows, baselines and open incidents of every scope; feed it slip-ups in any order."""

    config: SpikeConfig = field(default_factory=SpikeConfig)
    late_dropped: int = 0
    duplicates: int = 0
    _scopes: dict[Scope, _ScopeState] = field(default_factory=dict)
    _windows: dict[int, dict[Scope, set[str]]] = field(default_factory=dict)
    _seen: dict[int, set[str]] = field(default_factory=dict)  # slip-up ids per open window
    _next_close: int | None = None  # start of the oldest window not closed yet
    _closed: int = 0  # windows closed so far
    _watermark: float = -math.inf

    @property
    def watermark(self) -> datetime | None:
        """Event time up to which windows are closed."""
        if self._watermark == -math.inf:
            return None
        return datetime.fromtimestamp(self._watermark, UTC)

    def open_incidents(self) -> dict[Scope, str]:
        """The incident id of every scope that has one open."""
        return {s: st.incident.id for s, st in sorted(self._scopes.items()) if st.incident}

    def observe(self, slipup: SlipUp) -> list[Alert]:
        """Count one slip-up; the alerts it causes (an opening, or resolutions as time moves)."""
        size = self.config.window_seconds
        timestamp = slipup.occurred_at.timestamp()
        window = int(timestamp // size) * size
        if self._next_close is not None and window < self._next_close:
            self.late_dropped += 1
            return []
        seen = self._seen.setdefault(window, set())
        if slipup.slipup_id in seen:
            self.duplicates += 1
            return []
        seen.add(slipup.slipup_id)
        alerts: list[Alert] = []
        counts = self._windows.setdefault(window, {})
        for scope in self._scopes_of(slipup):
            posts = counts.setdefault(scope, set())
            if slipup.post_id not in posts:
                posts.add(slipup.post_id)
                alerts += self._maybe_open(scope, window, len(posts))
        lateness = self.config.allowed_lateness_windows * size
        return alerts + self.advance_to(timestamp - lateness)

    def advance(self, watermark: datetime) -> list[Alert]:
        """Move event time on without slip-ups (quiet periods): closes windows, resolves."""
        return self.advance_to(watermark.timestamp())

    def advance_to(self, watermark: float) -> list[Alert]:
        """`advance` with the watermark in epoch seconds."""
        if watermark <= self._watermark:
            return []
        self._watermark = watermark
        size = self.config.window_seconds
        if self._next_close is None:
            first_open = int(watermark // size) * size
            self._next_close = min([*self._windows, first_open])
        alerts: list[Alert] = []
        while self._next_close + size <= watermark:
            busy = [w for w in self._windows if w + size <= watermark]
            if busy and min(busy) == self._next_close:
                alerts += self._close(self._next_close)
                self._next_close += size
                continue
            # Windows without any slip-up up to the next busy one (or the watermark).
            until = min(busy) if busy else int(watermark // size) * size
            empty = (until - self._next_close) // size
            alerts += self._close_empty(self._next_close, empty)
            self._next_close = until
        return alerts

    # --- internals -------------------------------------------------------------------

    def _scopes_of(self, slipup: SlipUp) -> list[Scope]:
        values: dict[ScopeKind, str] = {
            "company": "all",
            "department": slipup.department or UNKNOWN_DEPARTMENT,
            "network": slipup.network,
            "category": slipup.category,
        }
        scopes: list[Scope] = [(kind, values[kind]) for kind in self.config.scope_kinds]
        for scope in scopes:
            if scope not in self._scopes:
                # A scope first seen now has been at zero for every window closed so far.
                self._scopes[scope] = _ScopeState(learned=self._closed)
        return scopes

    def _baseline(self, state: _ScopeState) -> float:
        return max(state.ewma, self.config.baseline_floor)

    def _significant(self, count: int, baseline: float) -> float | None:
        """The tail probability when `count` is a spike over `baseline`, else None."""
        if count < self.config.min_count:
            return None
        p = tail_probability(count, baseline)
        return p if p < self.config.p_threshold else None

    def _maybe_open(self, scope: Scope, window: int, count: int) -> list[Alert]:
        state = self._scopes[scope]
        if state.incident or self._closed < self.config.warmup_windows:
            return []
        baseline = self._baseline(state)
        p = self._significant(count, baseline)
        if p is None:
            return []
        start = datetime.fromtimestamp(window, UTC)
        state.incident = _Incident(incident_id(scope, start), window, baseline)
        return [self._alert("firing", scope, state.incident, window, count, p)]

    def _learn(self, state: _ScopeState, count: int) -> None:
        if state.incident:
            alpha = self.config.incident_alpha
        else:
            alpha = max(self.config.ewma_alpha, 1.0 / (state.learned + 1))
            state.learned += 1
        state.ewma += alpha * (count - state.ewma)

    def _close(self, window: int) -> list[Alert]:
        """Close one window that has slip-ups: decide, then learn."""
        counts = self._windows.pop(window)
        self._seen.pop(window, None)
        alerts: list[Alert] = []
        for scope, state in sorted(self._scopes.items()):
            count = len(counts.get(scope, ()))
            incident = state.incident
            if incident and window >= incident.opened_window:
                baseline = incident.baseline
                if tail_probability(count, baseline) >= self.config.quiet_p:
                    incident.quiet_run += 1
                    if incident.quiet_run >= self.config.resolve_after_windows:
                        p = tail_probability(count, baseline)
                        alerts.append(self._alert("resolved", scope, incident, window, count, p))
                        state.incident = None
                else:
                    incident.quiet_run = 0
            elif not incident:
                alerts += self._maybe_open(scope, window, count)
            self._learn(state, count)
        self._closed += 1
        return alerts

    def _close_empty(self, window: int, windows: int) -> list[Alert]:
        """Close `windows` consecutive windows without slip-ups, from `window` on."""
        alerts: list[Alert] = []
        size = self.config.window_seconds
        for scope, state in sorted(self._scopes.items()):
            remaining = windows
            if state.incident:
                needed = self.config.resolve_after_windows - state.incident.quiet_run
                if needed > remaining:
                    state.incident.quiet_run += remaining
                    state.ewma *= (1 - self.config.incident_alpha) ** remaining
                    continue
                last = window + (needed - 1) * size
                alerts.append(self._alert("resolved", scope, state.incident, last, 0, 1.0))
                state.ewma *= (1 - self.config.incident_alpha) ** needed
                state.incident = None
                remaining -= needed
            while remaining and state.learned * self.config.ewma_alpha < 1:
                self._learn(state, 0)  # the plain-mean phase, at most 1/alpha windows
                remaining -= 1
            state.ewma *= (1 - self.config.ewma_alpha) ** remaining
            state.learned += remaining
        self._closed += windows
        return sorted(alerts, key=lambda a: (a.window_start, a.scope_kind, a.scope))

    def _alert(
        self,
        status: Literal["firing", "resolved"],
        scope: Scope,
        incident: _Incident,
        window: int,
        count: int,
        p: float,
    ) -> Alert:
        size = self.config.window_seconds
        start = datetime.fromtimestamp(window, UTC)
        end = datetime.fromtimestamp(window + size, UTC)
        opened = datetime.fromtimestamp(incident.opened_window, UTC)
        where = f"{scope[0]} {scope[1]}"
        if status == "firing":
            summary = (
                f"[FIRING] slip-up spike in {where}: {count} flagged posts in "
                f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC, {incident.baseline:.2f} expected "
                f"per {size // 60} min (p={p:.1e})"
            )
        else:
            summary = (
                f"[RESOLVED] slip-up spike in {where} (opened {opened:%Y-%m-%d %H:%M} UTC): "
                f"back to normal after {self.config.resolve_after_windows} quiet windows, "
                f"up to {end:%H:%M} UTC"
            )
        return Alert(
            alert_id=f"{incident.id}:{status}",
            incident_id=incident.id,
            status=status,
            scope_kind=scope[0],
            scope=scope[1],
            window_start=start,
            window_end=end,
            count=count,
            baseline=incident.baseline,
            p_value=p,
            opened_at=opened,
            summary=summary,
        )
