"""Alert delivery to chat webhooks.

`WebhookNotifier` posts every `Alert` to every webhook URL from background
asyncio tasks, one per URL, so a dead endpoint only delays its own queue. The
caller's `enqueue` never blocks or awaits: each URL has a bounded queue and,
when it is full, the *oldest* pending delivery is given up and reported as
failed (the newest alert is the one people need). Failed attempts are retried
with exponential backoff and jitter; every delivery ends in exactly one
`AlertDelivery` outcome passed to `on_outcome`, which the agent logs and stores.

The payload is the Alert's fields plus `text`, the one human line that Slack and
Microsoft Teams incoming webhooks display (they ignore the other fields). One
incident is one `firing` and one `resolved` post however many scopes it groups:
`scopes` lists them for programs ("kind:value") and `text` names them. That
line holds department and scope names, which anyone who edits the roster
chooses, so `chat_text` makes it plain text for both chats (the other fields
are data for programs and stay as they are).

A webhook URL is a secret (its token is in the path or the query): it is used
only to post. Outcomes, and so the logs and `alert_deliveries`, carry its
masked form (`pipeline.settings.masked_url`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from pipeline.settings import masked_url
from schemas.slipups import Alert, AlertDelivery

log = logging.getLogger(__name__)

RECENT_IDS = 10_000
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# Sends one body to one URL, returns the HTTP status; raises on network errors.
Transport = Callable[[str, bytes], Awaitable[int]]


def parse_webhooks(value: str) -> list[str]:
    """Webhook URLs from a comma-separated setting (`CHORUS_ALERT_WEBHOOKS`)."""
    urls = [url.strip() for url in value.split(",") if url.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {url!r}")
    return urls


# Slack's control characters, escaped as Slack asks; Teams' Markdown reads the same entities.
_CHAT_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def chat_text(text: str) -> str:
    """`text` as one line of plain text in Slack and in Teams.

    Slack reads `<!channel>`, `<@U123>` and `<http://x|y>` as mentions and
    links; escaping `&`, `<` and `>` (Slack's rule) turns them into text, and
    also Teams' HTML and autolinks. Teams' Markdown links need `](`: a
    backslash before the `(` keeps them text. Line breaks become spaces, so no
    name can start a Markdown block (a heading, a link definition, a quote).
    Emphasis marks (`*`, `_`, `~`) stay: Slack has no escape for them, and at
    worst they style part of a name.
    """
    one_line = re.sub(r"\s+", " ", text).strip()
    return one_line.translate(_CHAT_ENTITIES).replace("](", "]\\(")


def webhook_payload(alert: Alert) -> bytes:
    """The JSON body: `text` for chat webhooks, then every Alert field."""
    fields: dict[str, Any] = msgspec.to_builtins(alert)
    return msgspec.json.encode({"text": chat_text(alert.summary), **fields})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0  # seconds before the second attempt (then doubling)
    max_delay: float = 60.0
    timeout: float = 10.0  # per attempt

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Backoff after failed attempt number `attempt` (1-based): half fixed, half jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def json_poster(session: aiohttp.ClientSession) -> Transport:
    """A transport that POSTs JSON bodies with `session`."""

    async def post(url: str, body: bytes) -> int:
        headers = {"Content-Type": "application/json"}
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    return post


@dataclass
class Delivery:
    """How far one delivery got: attempts made, the last HTTP status (None: no answer), why not."""

    ok: bool = False
    attempts: int = 0
    status: int | None = None
    error: str = ""


async def deliver(
    transport: Transport,
    url: str,
    body: bytes,
    retry: RetryPolicy,
    rng: random.Random,
    delivery: Delivery | None = None,
) -> Delivery:
    """Send `body` until a 2xx, a status not worth retrying, or `retry.max_attempts`.

    `delivery` holds the outcome so far even when the caller is cancelled
    mid-way. Errors show the URL masked: it holds the webhook's token.
    """
    delivery = delivery or Delivery()
    for attempt in range(1, retry.max_attempts + 1):
        delivery.attempts = attempt
        try:
            delivery.status = await asyncio.wait_for(transport(url, body), retry.timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # Some aiohttp errors quote the URL (InvalidURL, TooManyRedirects).
            delivery.status = None
            delivery.error = f"{type(exc).__name__}: {exc}".replace(url, masked_url(url))
        else:
            if 200 <= delivery.status < 300:
                delivery.ok, delivery.error = True, ""
                return delivery
            delivery.error = f"HTTP {delivery.status}"
            if delivery.status not in RETRYABLE_STATUSES:
                break
        if attempt < retry.max_attempts:
            await asyncio.sleep(retry.delay(attempt, rng))
    return delivery


@dataclass
class _Channel:
    url: str
    pending: deque[Alert] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    busy: bool = False


class WebhookNotifier:
    """Background delivery of alerts to webhooks; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        on_outcome: Callable[[AlertDelivery], None],
        *,
        queue_size: int = 1000,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._urls = list(urls)
        self._on_outcome = on_outcome
        self._queue_size = queue_size
        self._retry = retry or RetryPolicy()
        self._transport = transport
        self._rng = rng or random.Random()
        self._channels: list[_Channel] = []
        self._session: aiohttp.ClientSession | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()  # alert ids enqueued lately

    async def start(self) -> None:
        """Start one delivery task per URL (call from the running event loop)."""
        if self._transport is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._retry.timeout)
            )
            self._transport = json_poster(self._session)
        self._channels = [_Channel(url) for url in self._urls]
        for channel in self._channels:
            channel.task = asyncio.create_task(self._deliver_forever(channel))

    def enqueue(self, alert: Alert) -> None:
        """Queue an alert for every webhook; never blocks. Full queue: oldest is given up.

        An alert id seen among the last `RECENT_IDS` is skipped: a replayed alert
        topic (or a detector that restarted) must not post the same message twice.
        """
        if alert.alert_id in self._recent:
            return
        self._recent[alert.alert_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        for channel in self._channels:
            if len(channel.pending) >= self._queue_size:
                dropped = channel.pending.popleft()
                self._record(dropped, channel.url, False, 0, None, "queue full: given up")
            channel.pending.append(alert)
            channel.wake.set()

    def pending(self) -> int:
        """Deliveries not finished yet (queued or being tried)."""
        return sum(len(c.pending) + c.busy for c in self._channels)

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Let queued deliveries finish for up to `drain_seconds`, give up the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while self.pending() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for channel in self._channels:
            if channel.task:
                channel.task.cancel()
        await asyncio.gather(*(c.task for c in self._channels if c.task), return_exceptions=True)
        for channel in self._channels:
            while channel.pending:
                alert = channel.pending.popleft()
                self._record(alert, channel.url, False, 0, None, "shut down before delivery")
        if self._session:
            await self._session.close()

    async def _deliver_forever(self, channel: _Channel) -> None:
        while True:
            if not channel.pending:
                channel.wake.clear()
                await channel.wake.wait()
                continue
            alert = channel.pending.popleft()
            channel.busy = True
            try:
                await self._deliver(channel.url, alert)
            finally:
                channel.busy = False

    async def _deliver(self, url: str, alert: Alert) -> None:
        assert self._transport is not None
        delivery = Delivery()
        try:
            await deliver(
                self._transport, url, webhook_payload(alert), self._retry, self._rng, delivery
            )
        except asyncio.CancelledError:
            self._record(
                alert, url, False, delivery.attempts, delivery.status, "shut down during delivery"
            )
            raise
        self._record(alert, url, delivery.ok, delivery.attempts, delivery.status, delivery.error)

    def _record(
        self, alert: Alert, url: str, ok: bool, attempts: int, status: int | None, error: str
    ) -> None:
        outcome = AlertDelivery(
            alert_id=alert.alert_id,
            url=masked_url(url),
            ok=ok,
            attempts=attempts,
            status=status,
            error=error,
            finished_at=datetime.now(UTC),
        )
        try:
            self._on_outcome(outcome)
        except Exception:  # a broken outcome hook must not stop deliveries
            log.exception("alert delivery outcome hook failed")
