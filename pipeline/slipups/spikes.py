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

Hysteresis. A significant window makes its scope fire as soon as its count gets
there, without waiting for the window to close: counts only grow, so the
decision cannot be undone. The scope stays firing while windows stay high and
resolves after `resolve_after_windows` consecutive quiet windows (P(X >= count)
>= `quiet_p` under the baseline of when it fired). While it fires, its baseline
learns only very slowly (`incident_alpha`), so a long spike does not become the
new normal and resolve itself.

Incidents. One burst makes several scopes fire (its department, the company, its
networks, its categories), and a team wants one notification, so scopes that fire
are grouped into incidents. A scope that fires joins the oldest open incident
that holds a scope related to it; otherwise it opens a new incident. The related
scopes are those of the slip-ups counted in the firing scope's window, in that
scope: every scope that shares a flagged post with it there. They include the
scopes of the slip-up that made it fire (the company, its department, network and
category), and the rule also holds for a scope that fires when its window closes,
with no single slip-up. Only the slip-up's own scopes would split one burst in
two whenever the post that tips the company (or a network or category) over
comes from another department: `chorus bench alerts` measured 1.10 notifications
per burst that way, 1.07 this way. Scopes that fire together are taken narrowest
first (department, network, category, company), so a burst's department opens
its incident when it fires with the others. An incident sends one `firing` Alert
when it opens, listing the scopes in it by then, and one `resolved` Alert once
every scope in it has resolved, listing all that joined. A scope that fires
again while its incident is still open joins it again, and while the company
scope is in an open incident, every scope that fires joins that incident: the
company-wide incident is still going on. The incident id is a hash of the
opening scope and the start of its window: replaying the same stream gives the
same ids.

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
    resolve_after_windows: int = 3  # consecutive quiet windows that end a scope's firing
    ewma_alpha: float = 0.005  # about 17 hours of 5-minute windows
    incident_alpha: float = 0.0005  # how fast the baseline adapts while its scope fires
    baseline_floor: float = 0.02  # expected count per window, at least (about 6 a day)
    warmup_windows: int = 12  # no alert before the detector has seen this many windows
    scope_kinds: tuple[ScopeKind, ...] = SCOPE_KINDS


def tail_probability(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    return 1.0 if count <= 0 else float(pdtrc(count - 1, mean))


def incident_id(scope: Scope, opened_at: datetime) -> str:
    """Stable id of the incident `scope` opened in the window starting at `opened_at`."""
    key = f"{scope[0]}\x00{scope[1]}\x00{opened_at.isoformat()}"
    return "i" + blake2b(key.encode(), digest_size=12).hexdigest()


def scope_name(scope: Scope) -> str:
    """How `Alert.scopes` names a scope: "kind:value"."""
    return f"{scope[0]}:{scope[1]}"


# Which scope opens an incident when several fire together: the narrowest.
_OPENING_ORDER: tuple[ScopeKind, ...] = ("department", "network", "category", "company")
SUMMARY_SCOPES = 6  # other scopes a summary names; the rest it counts


def _narrowest_first(scope: Scope) -> tuple[int, str]:
    return _OPENING_ORDER.index(scope[0]), scope[1]


def _by_kind(scope: Scope) -> tuple[int, str]:
    return SCOPE_KINDS.index(scope[0]), scope[1]


@dataclass
class _Firing:
    """One scope's spike, from its significant window to its quiet ones."""

    opened_window: int  # epoch seconds of the opening window's start
    baseline: float  # the baseline when it fired: what "normal" is while it fires
    count: int  # the count that fired it
    p: float  # its tail probability
    quiet_run: int = 0


@dataclass
class _Incident:
    """What people are told about: the scopes that fired for one burst."""

    id: str
    opener: Scope
    opening: _Firing  # the opener's: window, baseline, count and p of the firing alert
    scopes: set[Scope] = field(default_factory=set)  # every scope that joined
    firing: set[Scope] = field(default_factory=set)  # those not resolved yet


@dataclass
class _ScopeState:
    ewma: float = 0.0
    learned: int = 0  # windows the baseline has learned from
    firing: _Firing | None = None


@dataclass
class SpikeDetector:
    """Windows, baselines and open incidents of every scope; feed it slip-ups in any order."""

    config: SpikeConfig = field(default_factory=SpikeConfig)
    late_dropped: int = 0
    duplicates: int = 0
    _scopes: dict[Scope, _ScopeState] = field(default_factory=dict)
    _windows: dict[int, dict[Scope, set[str]]] = field(default_factory=dict)
    _seen: dict[int, set[str]] = field(default_factory=dict)  # slip-up ids per open window
    _incidents: list[_Incident] = field(default_factory=list)  # open ones, oldest first
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
        """For every scope still firing, the id of the incident it is in."""
        return dict(sorted((s, i.id) for i in self._incidents for s in i.firing))

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
        counts = self._windows.setdefault(window, {})
        scopes = self._scopes_of(slipup)
        fired: list[tuple[Scope, _Firing]] = []
        for scope in scopes:
            posts = counts.setdefault(scope, set())
            if slipup.post_id not in posts:
                posts.add(slipup.post_id)
                firing = self._maybe_fire(scope, window, len(posts))
                if firing:
                    fired.append((scope, firing))
        alerts = self._join([(s, firing, _related(counts, s)) for s, firing in fired])
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

    def _maybe_fire(self, scope: Scope, window: int, count: int) -> _Firing | None:
        """Start `scope`'s firing if `count` is a spike for it; the caller then `_join`s it."""
        state = self._scopes[scope]
        if state.firing or self._closed < self.config.warmup_windows:
            return None
        baseline = self._baseline(state)
        p = self._significant(count, baseline)
        if p is not None:
            state.firing = _Firing(window, baseline, count, p)
        return state.firing

    def _join(self, fired: list[tuple[Scope, _Firing, set[Scope]]]) -> list[Alert]:
        """Put each scope that just fired in an incident, by the scopes related to its firing.

        The firing alerts of the incidents this opens, once all have joined.
        """
        opened: list[_Incident] = []
        for scope, firing, related in sorted(fired, key=lambda f: _narrowest_first(f[0])):
            incident = next((i for i in self._incidents if i.scopes & related), None)
            if incident is None:
                start = datetime.fromtimestamp(firing.opened_window, UTC)
                incident = _Incident(incident_id(scope, start), scope, firing)
                self._incidents.append(incident)
                opened.append(incident)
            incident.scopes.add(scope)
            incident.firing.add(scope)
        return [
            self._alert("firing", i, i.opening.opened_window, i.opening.count, i.opening.p)
            for i in opened
        ]

    def _resolve(self, scope: Scope, window: int, counts: dict[Scope, set[str]]) -> list[Alert]:
        """`scope` stopped firing in `window`: its incident's resolved alert if it was the last."""
        incident = next(i for i in self._incidents if scope in i.firing)
        incident.firing.discard(scope)
        if incident.firing:
            return []
        self._incidents.remove(incident)
        count = len(counts.get(incident.opener, ()))
        p = tail_probability(count, incident.opening.baseline)
        return [self._alert("resolved", incident, window, count, p)]

    def _learn(self, state: _ScopeState, count: int) -> None:
        if state.firing:
            alpha = self.config.incident_alpha
        else:
            alpha = max(self.config.ewma_alpha, 1.0 / (state.learned + 1))
            state.learned += 1
        state.ewma += alpha * (count - state.ewma)

    def _close(self, window: int) -> list[Alert]:
        """Close one window that has slip-ups: decide, then learn."""
        counts = self._windows.pop(window)
        self._seen.pop(window, None)
        fired: list[tuple[Scope, _Firing, set[Scope]]] = []
        resolved: list[Scope] = []
        for scope, state in sorted(self._scopes.items()):
            posts = counts.get(scope, set())
            firing = state.firing
            if firing and window >= firing.opened_window:
                if tail_probability(len(posts), firing.baseline) >= self.config.quiet_p:
                    firing.quiet_run += 1
                    if firing.quiet_run >= self.config.resolve_after_windows:
                        state.firing = None
                        resolved.append(scope)
                else:
                    firing.quiet_run = 0
            elif not firing:
                firing = self._maybe_fire(scope, window, len(posts))
                if firing:
                    fired.append((scope, firing, _related(counts, scope)))
            self._learn(state, len(posts))
        self._closed += 1
        # Scopes that fire now join before the others resolve: an incident that gets a
        # new scope in the window where its last one goes quiet goes on.
        alerts = self._join(fired)
        for scope in resolved:
            alerts += self._resolve(scope, window, counts)
        return alerts

    def _close_empty(self, window: int, windows: int) -> list[Alert]:
        """Close `windows` consecutive windows without slip-ups, from `window` on."""
        size = self.config.window_seconds
        resolved: list[tuple[int, Scope]] = []  # (window, scope) of each scope that resolves
        for scope, state in sorted(self._scopes.items()):
            remaining = windows
            if state.firing:
                needed = self.config.resolve_after_windows - state.firing.quiet_run
                if needed > remaining:
                    state.firing.quiet_run += remaining
                    state.ewma *= (1 - self.config.incident_alpha) ** remaining
                    continue
                resolved.append((window + (needed - 1) * size, scope))
                state.ewma *= (1 - self.config.incident_alpha) ** needed
                state.firing = None
                remaining -= needed
            while remaining and state.learned * self.config.ewma_alpha < 1:
                self._learn(state, 0)  # the plain-mean phase, at most 1/alpha windows
                remaining -= 1
            state.ewma *= (1 - self.config.ewma_alpha) ** remaining
            state.learned += remaining
        self._closed += windows
        return [alert for at, scope in sorted(resolved) for alert in self._resolve(scope, at, {})]

    def _alert(
        self,
        status: Literal["firing", "resolved"],
        incident: _Incident,
        window: int,
        count: int,
        p: float,
    ) -> Alert:
        size = self.config.window_seconds
        start = datetime.fromtimestamp(window, UTC)
        end = datetime.fromtimestamp(window + size, UTC)
        opened = datetime.fromtimestamp(incident.opening.opened_window, UTC)
        baseline = incident.opening.baseline
        others = sorted(incident.scopes - {incident.opener}, key=_by_kind)
        where = _label(incident.opener)
        if others:
            named = [_label(scope) for scope in others[:SUMMARY_SCOPES]]
            if len(others) > SUMMARY_SCOPES:
                named.append(f"{len(others) - SUMMARY_SCOPES} more")
            where += f" (+ {', '.join(named)})"
        if status == "firing":
            summary = (
                f"[FIRING] slip-up spike in {where}: {count} flagged posts in "
                f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC, {baseline:.2f} expected "
                f"per {size // 60} min (p={p:.1e})"
            )
        else:
            summary = (
                f"[RESOLVED] slip-up spike in {where}, opened {opened:%Y-%m-%d %H:%M} UTC: "
                f"back to normal after {self.config.resolve_after_windows} quiet windows, "
                f"up to {end:%H:%M} UTC"
            )
        return Alert(
            alert_id=f"{incident.id}:{status}",
            incident_id=incident.id,
            status=status,
            scope_kind=incident.opener[0],
            scope=incident.opener[1],
            scopes=tuple(scope_name(scope) for scope in [incident.opener, *others]),
            window_start=start,
            window_end=end,
            count=count,
            baseline=baseline,
            p_value=p,
            opened_at=opened,
            summary=summary,
        )


def _related(counts: dict[Scope, set[str]], scope: Scope) -> set[Scope]:
    """The scopes that share a flagged post with `scope` in a window (`scope` too)."""
    posts = counts[scope]
    return {other for other, more in counts.items() if not more.isdisjoint(posts)}


def _label(scope: Scope) -> str:
    """A scope as a summary names it: "company", "department Sales"."""
    return "company" if scope[0] == "company" else f"{scope[0]} {scope[1]}"
