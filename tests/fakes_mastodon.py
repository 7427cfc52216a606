"""A Mastodon instance on loopback that speaks the documented REST API, with faults on demand.

It serves what `pipeline.sources.mastodon` reads: `accounts/lookup`, an
account's `followers` and `statuses` (newest first, paged by `max_id` in a
`Link: <…>; rel="next"` header, `since_id` honoured), a status's
`favourited_by`, `reblogged_by` and `context`. `faults` injects, once each
and in order, what real instances do: a 429 with `Retry-After`, a 503, a slow
answer, a page that exhausts the rate limit (`X-RateLimit-Remaining: 0` with
an ISO `X-RateLimit-Reset`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

DOMAIN = "example.social"


def account(account_id: str, acct: str, fields: list[dict[str, Any]] | None = None) -> dict:
    return {
        "id": account_id,
        "username": acct.split("@")[0],
        "acct": acct,
        "url": f"https://{DOMAIN}/@{acct}",
        "fields": fields or [],
    }


def verified(url: str) -> dict[str, Any]:
    """A profile field with a link Mastodon verified (rel="me" back)."""
    return {
        "name": "Web",
        "value": f'<a href="{url}" rel="nofollow noopener me" target="_blank">{url}</a>',
        "verified_at": "2026-10-01T00:00:00.000+00:00",
    }


def status(
    status_id: int,
    author: dict,
    html: str,
    *,
    reply_to: tuple[int, dict] | None = None,
    reblog: dict | None = None,
    favourited_by: list[dict] = (),  # type: ignore[assignment]
    reblogged_by: list[dict] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    created = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=status_id)
    return {
        "id": str(status_id),
        "created_at": created.isoformat().replace("+00:00", ".000Z"),
        "edited_at": None,
        "in_reply_to_id": str(reply_to[0]) if reply_to else None,
        "in_reply_to_account_id": reply_to[1]["id"] if reply_to else None,
        "mentions": [
            {"id": reply_to[1]["id"], "acct": reply_to[1]["acct"], "username": "x", "url": ""}
        ]
        if reply_to
        else [],
        "reblog": reblog,
        "content": html,
        "language": "en",
        "url": f"https://{DOMAIN}/@{author['acct']}/{status_id}",
        "account": author,
        "favourites_count": len(favourited_by),
        "reblogs_count": len(reblogged_by),
        "replies_count": 0,
        "_favourited_by": list(favourited_by),
        "_reblogged_by": list(reblogged_by),
    }


@dataclass
class FakeMastodon:
    accounts: dict[str, dict] = field(default_factory=dict)  # id -> account
    followers: dict[str, list[dict]] = field(default_factory=dict)  # account id -> followers
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # account id -> newest first
    replies: dict[str, list[dict]] = field(default_factory=dict)  # status id -> descendants
    faults: list[str] = field(default_factory=list)  # "429", "503", "slow", "limit"
    requests: list[str] = field(default_factory=list)
    slow_seconds: float = 2.0
    base_url: str = ""

    def _page(self, request: web.Request, items: list[dict], limit: int) -> web.Response:
        since, max_id = request.query.get("since_id"), request.query.get("max_id")
        if since is not None:
            items = [item for item in items if int(item["id"]) > int(since)]
        start = 0
        if max_id is not None:
            start = next((i for i, item in enumerate(items) if item["id"] == max_id), len(items))
            start += 1
        page = items[start : start + min(int(request.query.get("limit", limit)), limit)]
        headers = {}
        if start + len(page) < len(items):
            query = f"limit={limit}&max_id={page[-1]['id']}"
            headers["Link"] = f'<{self.base_url}{request.path}?{query}>; rel="next"'
        return web.json_response(
            [{k: v for k, v in item.items() if not k.startswith("_")} for item in page],
            headers=headers,
        )

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "429":
                return web.json_response(
                    {"error": "Too many requests"}, status=429, headers={"Retry-After": "1"}
                )
            if fault == "503":
                return web.json_response({"error": "unavailable"}, status=503)
            if fault == "slow":
                await asyncio.sleep(self.slow_seconds)
            if fault == "limit":
                response = await handler(request)
                reset = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
                response.headers["X-RateLimit-Remaining"] = "0"
                response.headers["X-RateLimit-Reset"] = reset
                return response
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/api/v1/accounts/lookup", self._lookup)
        app.router.add_get("/api/v1/accounts/{id}/followers", self._followers)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._statuses)
        app.router.add_get("/api/v1/accounts/{id}", self._account)
        app.router.add_get("/api/v1/statuses/{id}/favourited_by", self._favourited_by)
        app.router.add_get("/api/v1/statuses/{id}/reblogged_by", self._reblogged_by)
        app.router.add_get("/api/v1/statuses/{id}/context", self._context)
        return app

    async def _lookup(self, request: web.Request) -> web.Response:
        acct = request.query["acct"].removesuffix(f"@{DOMAIN}")
        for found in self.accounts.values():
            if found["acct"] == acct:
                return web.json_response(found)
        return web.json_response({"error": "Record not found"}, status=404)

    async def _account(self, request: web.Request) -> web.Response:
        found = self.accounts.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "Record not found"}, status=404)
        return web.json_response(found)

    async def _followers(self, request: web.Request) -> web.Response:
        return self._page(request, self.followers.get(request.match_info["id"], []), 80)

    async def _statuses(self, request: web.Request) -> web.Response:
        return self._page(request, self.statuses.get(request.match_info["id"], []), 40)

    def _status(self, status_id: str) -> dict:
        return next(s for items in self.statuses.values() for s in items if s["id"] == status_id)

    async def _favourited_by(self, request: web.Request) -> web.Response:
        return self._page(request, self._status(request.match_info["id"])["_favourited_by"], 80)

    async def _reblogged_by(self, request: web.Request) -> web.Response:
        return self._page(request, self._status(request.match_info["id"])["_reblogged_by"], 80)

    async def _context(self, request: web.Request) -> web.Response:
        descendants = self.replies.get(request.match_info["id"], [])
        return web.json_response({"ancestors": [], "descendants": descendants})
