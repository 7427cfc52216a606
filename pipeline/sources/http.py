"""The connectors' HTTP client: JSON over aiohttp, within each network's rate limits.

- Paging follows the `Link: <…>; rel="next"` header (Mastodon) or a cursor
  the caller passes back (Bluesky); ids are never guessed.
- Rate limits: when a response says no requests remain
  (`X-RateLimit-Remaining`, Mastodon; `RateLimit-Remaining`, Bluesky), the
  next request waits for the reset (`X-RateLimit-Reset`, an ISO time;
  `RateLimit-Reset`, Unix seconds). A 429 waits for `Retry-After` (seconds or
  an HTTP date), else for the reset, else backs off.
- 5xx, timeouts and dropped connections are retried with exponential backoff
  and full jitter (tenacity); other 4xx are errors at once, with the URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from pipeline.observability import CONNECTOR_RATE_LIMIT_WAIT, CONNECTOR_REQUESTS

log = logging.getLogger(__name__)

Params = Mapping[str, str | int | list[str]]
USER_AGENT = "chorus-connect (+https://github.com/chorus-advocacy)"  # how networks see Chorus


class ApiError(RuntimeError):
    """A request the network refused for good (4xx other than 429), or retried in vain."""


class _Transient(Exception):
    """A failure worth retrying; `retry_after` when the server said how long to wait."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    body: Any  # the decoded JSON
    next_url: str | None  # the Link header's rel="next", if any


def _seconds_until(value: str, now: float) -> float | None:
    """A rate-limit header as seconds from now: delta seconds, Unix seconds, ISO or HTTP date."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, number - now if number > 1e9 else number)
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            return max(0.0, parse(value.replace("Z", "+00:00")).timestamp() - now)
        except (ValueError, TypeError):
            continue
    return None


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    return next((headers[name] for name in names if name in headers), None)


class ApiClient:
    """GETs JSON from one network's API (use as `async with`)."""

    def __init__(
        self,
        network: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        attempts: int = 8,
        backoff: float = 1.0,
        max_wait: float = 900.0,
    ) -> None:
        self.network = network
        self._headers = {"User-Agent": USER_AGENT}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._backoff = wait_random_exponential(multiplier=backoff, max=60)
        self._max_wait = max_wait
        self._not_before = 0.0  # monotonic time before which no request may go (rate limit)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str, params: Params | None = None) -> Response:
        """The JSON at `url`, retried as the module says; raises ApiError when it gives up."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Transient),
            wait=self._wait,
            stop=stop_after_attempt(self._attempts),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get_once(url, params)
        except _Transient as exc:
            raise ApiError(f"{url}: gave up after {self._attempts} attempts: {exc}") from exc
        raise AssertionError("unreachable: tenacity returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            wait = min(exc.retry_after, self._max_wait)
            CONNECTOR_RATE_LIMIT_WAIT.labels(self.network).inc(wait)
            log.info("%s: rate limited, waiting %.1f s", self.network, wait)
            return wait
        return float(self._backoff(state))

    async def _get_once(self, url: str, params: Params | None) -> Response:
        assert self._session is not None, "use ApiClient as `async with`"
        delay = self._not_before - time.monotonic()
        if delay > 0:
            CONNECTOR_RATE_LIMIT_WAIT.labels(self.network).inc(delay)
            log.info("%s: rate limit reached, waiting %.1f s for its reset", self.network, delay)
            await asyncio.sleep(delay)
        try:
            async with self._session.get(url, params=params) as response:
                status = response.status
                outcome = "429" if status == 429 else f"{status // 100}xx"
                CONNECTOR_REQUESTS.labels(self.network, outcome).inc()
                self._note_rate_limit(response.headers)
                if status == 429:
                    retry_after = _header(response.headers, "Retry-After")
                    reset = _header(response.headers, "X-RateLimit-Reset", "RateLimit-Reset")
                    wait = next(
                        (
                            seconds
                            for value in (retry_after, reset)
                            if value is not None
                            and (seconds := _seconds_until(value, time.time())) is not None
                        ),
                        None,
                    )
                    raise _Transient(f"429 from {url}", retry_after=wait)
                if status >= 500:
                    raise _Transient(f"{status} from {url}")
                if status >= 400:
                    text = (await response.text())[:300]
                    raise ApiError(f"{url}: {status} {response.reason}: {text}")
                body = await response.json(content_type=None)
                next_link = response.links.get("next")
                next_url = str(next_link["url"]) if next_link is not None else None
                return Response(body, next_url)
        except TimeoutError as exc:
            CONNECTOR_REQUESTS.labels(self.network, "timeout").inc()
            raise _Transient(f"timeout on {url}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            CONNECTOR_REQUESTS.labels(self.network, "error").inc()
            raise _Transient(f"{type(exc).__name__} on {url}: {exc}") from exc

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        remaining = _header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining")
        reset = _header(headers, "X-RateLimit-Reset", "RateLimit-Reset")
        if remaining is None or reset is None or remaining.strip() not in ("0", "0.0"):
            return
        seconds = _seconds_until(reset, time.time())
        if seconds is not None:
            self._not_before = time.monotonic() + min(seconds, self._max_wait)
