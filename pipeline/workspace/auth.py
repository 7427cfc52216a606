"""Who is asking: server-side sessions, CSRF tokens, login throttling, and the trusted SSO proxy.

Sessions live in the server's memory, keyed by a random token in a Secure,
HttpOnly, SameSite=Strict cookie: nothing about the user is in the cookie, and
a restart logs everyone out (the workspace is a few people's tool, not a
public site). Each session has its own CSRF token, which every form carries
and every state-changing request must match. Behind a single sign-on proxy the
proxy's identity header is believed only when the request comes from one of
`CHORUS_TRUSTED_PROXIES`; anyone else sending it gets the login page.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "chorus_session"
MAX_FAILURES_PER_NAME = 5  # within THROTTLE_SECONDS, then that name waits
MAX_FAILURES_PER_ADDRESS = 20  # within THROTTLE_SECONDS, then that address waits
THROTTLE_SECONDS = 15 * 60
MAX_SESSIONS = 10_000  # a flood of login-form views cannot grow memory past this


@dataclass
class Session:
    token: str
    user: str
    csrf: str
    last_used: float
    said: str = ""  # what the last action did, shown once on the next page (never from a link)


@dataclass
class Sessions:
    """Live sessions; one ends after `idle_seconds` without a request, or at logout.

    Kept in the order of their last use, so that each start drops the expired
    ones from the front: a session nobody presents again (the login form's, for
    a visitor who never logs in) does not stay in memory for ever.
    """

    idle_seconds: float
    clock: Callable[[], float] = time.monotonic
    limit: int = MAX_SESSIONS
    _by_token: dict[str, Session] = field(default_factory=dict)

    def start(self, user: str) -> Session:
        now = self.clock()
        while self._by_token:
            oldest = next(iter(self._by_token.values()))
            if now - oldest.last_used <= self.idle_seconds and len(self._by_token) < self.limit:
                break
            del self._by_token[oldest.token]  # expired, or the least recently used of too many
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now)
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.pop(token or "", None)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_used > self.idle_seconds:
            return None
        session.last_used = now
        self._by_token[session.token] = session  # to the back: the most recently used
        return session

    def end(self, token: str) -> None:
        self._by_token.pop(token, None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())


@dataclass
class LoginThrottle:
    """Failed logins per name and per address in the last `THROTTLE_SECONDS`."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait_seconds(self, name: str, address: str) -> float:
        """How long before this name or address may try again (0: now)."""
        now = self.clock()
        waits = [0.0]
        for key, limit in (
            (f"name:{name}", MAX_FAILURES_PER_NAME),
            (f"addr:{address}", MAX_FAILURES_PER_ADDRESS),
        ):
            recent = self._recent(key, now)
            if len(recent) >= limit:
                waits.append(recent[-limit] + THROTTLE_SECONDS - now)
        return max(waits)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in [key for key, times in self._failures.items() if not self._recent(key, now)]:
            del self._failures[key]  # names and addresses whose failures are all old: forgotten
        for key in (f"name:{name}", f"addr:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] > THROTTLE_SECONDS:
            times.popleft()
        return times


class TrustedProxies:
    """The reverse proxies whose identity header names the user (`CHORUS_TRUSTED_PROXIES`)."""

    def __init__(self, spec: str) -> None:
        self.networks = [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in spec.split(",")
            if part.strip()
        ]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)
