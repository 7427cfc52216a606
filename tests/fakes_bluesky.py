"""A Bluesky AppView and a Jetstream on loopback, speaking the documented shapes, with faults on demand.

`FakeAppView` serves what `pipeline.sources.bluesky` reads over XRPC:
`app.bsky.graph.getFollowers`, `app.bsky.feed.getAuthorFeed` (newest first),
`getLikes` and `getRepostedBy`, each paged by an opaque `cursor` that is absent
on the last page, and `getPostThread`. Every answer carries the
`RateLimit-*` headers; `faults` injects, once each and in order, a 429 with
`Retry-After: 1`, a 503, a slow answer, and a page that exhausts the rate
limit (`RateLimit-Remaining: 0`, `RateLimit-Reset` in Unix seconds).

`FakeJetstream` sends its scripted messages to each subscriber from its
`cursor` (those with `time_us >= cursor`; all of them without one), commits of
the `wantedCollections` only, then holds the connection open; `drop_after`
cuts the next connection after that many messages, without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

POST = "app.bsky.feed.post"


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(did: str, handle: str | None = None) -> dict[str, Any]:
    return {"did": did, "handle": handle or f"{did.rpartition(':')[2]}.bsky.social"}


def uri_of(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


def record(text: str, created: datetime, reply_to: str | None = None) -> dict[str, Any]:
    """An app.bsky.feed.post record; `reply_to`: the URI of the post it answers."""
    body: dict[str, Any] = {
        "$type": POST,
        "text": text,
        "createdAt": stamp(created),
        "langs": ["en"],
    }
    if reply_to is not None:
        ref = {"uri": reply_to, "cid": f"cid-{reply_to.rpartition('/')[2]}"}
        body["reply"] = {"root": ref, "parent": ref}
    return body


def post_view(
    did: str, rkey: str, text: str, created: datetime, reply_to: str | None = None
) -> dict[str, Any]:
    """An app.bsky.feed.defs#postView, indexed a second after it was written."""
    return {
        "uri": uri_of(did, rkey),
        "cid": f"cid-{rkey}",
        "author": profile(did),
        "record": record(text, created, reply_to),
        "indexedAt": stamp(created + timedelta(seconds=1)),
    }


def feed_item(view: dict[str, Any], reposted: tuple[str, datetime] | None = None) -> dict[str, Any]:
    """An author-feed item; `reposted`: (by whom, when) for a repost."""
    item: dict[str, Any] = {"post": view}
    if reposted is not None:
        item["reason"] = {
            "$type": "app.bsky.feed.defs#reasonRepost",
            "by": profile(reposted[0]),
            "indexedAt": stamp(reposted[1]),
        }
    return item


@dataclass
class FakeAppView:
    followers: dict[str, list[dict]] = field(default_factory=dict)  # did -> profiles
    feeds: dict[str, list[dict]] = field(default_factory=dict)  # did -> items, newest first
    likes: dict[str, list[dict]] = field(default_factory=dict)  # post uri -> likes
    reposted_by: dict[str, list[dict]] = field(default_factory=dict)  # post uri -> profiles
    replies: dict[str, list[dict]] = field(default_factory=dict)  # post uri -> post views
    faults: list[str] = field(default_factory=list)  # "429", "503", "slow", "limit", "ok"
    requests: list[str] = field(default_factory=list)  # path?query of each request
    slow_seconds: float = 2.0
    page_size: int = 3  # below the client's limit, so that every list pages

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults])
        for method, handler in {
            "app.bsky.graph.getFollowers": self._followers,
            "app.bsky.feed.getAuthorFeed": self._feed,
            "app.bsky.feed.getLikes": self._likes,
            "app.bsky.feed.getRepostedBy": self._reposted_by,
            "app.bsky.feed.getPostThread": self._thread,
        }.items():
            app.router.add_get(f"/xrpc/{method}", handler)
        return app

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "429":
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers={**self._limits(0), "Retry-After": "1"},
            )
        if fault == "503":
            return web.json_response({"error": "InternalServerError"}, status=503)
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        response = await handler(request)
        response.headers.update(self._limits(0 if fault == "limit" else 2999))
        return response

    @staticmethod
    def _limits(remaining: int) -> dict[str, str]:
        reset = int(time.time()) + (1 if remaining == 0 else 300)
        return {
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": "3000;w=300",
        }

    def _page(
        self, request: web.Request, key: str, items: list[dict], **extra: Any
    ) -> web.Response:
        start = int(request.query.get("cursor", "0"))
        size = min(int(request.query.get("limit", "50")), self.page_size)
        body: dict[str, Any] = {**extra, key: items[start : start + size]}
        if start + size < len(items):
            body["cursor"] = str(start + size)
        return web.json_response(body)

    def _counted(self, view: dict[str, Any]) -> dict[str, Any]:
        uri = view["uri"]
        return {
            **view,
            "likeCount": len(self.likes.get(uri, [])),
            "repostCount": len(self.reposted_by.get(uri, [])),
            "replyCount": len(self.replies.get(uri, [])),
        }

    def _view(self, uri: str) -> dict[str, Any]:
        return next(
            self._counted(item["post"])
            for items in self.feeds.values()
            for item in items
            if item["post"]["uri"] == uri
        )

    async def _followers(self, request: web.Request) -> web.Response:
        actor = request.query["actor"]
        if actor not in self.followers:
            return web.json_response(
                {"error": "InvalidRequest", "message": "Profile not found"}, status=400
            )
        return self._page(request, "followers", self.followers[actor], subject=profile(actor))

    async def _feed(self, request: web.Request) -> web.Response:
        items = [
            {**item, "post": self._counted(item["post"])}
            for item in self.feeds.get(request.query["actor"], [])
        ]
        return self._page(request, "feed", items)

    async def _likes(self, request: web.Request) -> web.Response:
        uri = request.query["uri"]
        return self._page(request, "likes", self.likes.get(uri, []), uri=uri)

    async def _reposted_by(self, request: web.Request) -> web.Response:
        uri = request.query["uri"]
        return self._page(request, "repostedBy", self.reposted_by.get(uri, []), uri=uri)

    async def _thread(self, request: web.Request) -> web.Response:
        uri = request.query["uri"]
        replies: list[dict[str, Any]] = [
            {"$type": "app.bsky.feed.defs#threadViewPost", "post": reply, "replies": []}
            for reply in self.replies.get(uri, [])
        ]
        if replies:  # a reply since deleted: listed without its post
            gone = f"{uri}-gone"
            replies.append(
                {"$type": "app.bsky.feed.defs#notFoundPost", "uri": gone, "notFound": True}
            )
        thread = {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._view(uri)}
        return web.json_response({"thread": {**thread, "replies": replies}})


def like(did: str, at: datetime) -> dict[str, Any]:
    return {"actor": profile(did), "createdAt": stamp(at), "indexedAt": stamp(at)}


# Jetstream


def commit(
    did: str,
    time_us: int,
    collection: str,
    rkey: str,
    body: dict[str, Any] | None = None,
    operation: str = "create",
) -> dict[str, Any]:
    """A Jetstream commit message; `body`, the record, for a create or an update."""
    change: dict[str, Any] = {
        "rev": f"rev{time_us}",
        "operation": operation,
        "collection": collection,
        "rkey": rkey,
    }
    if body is not None:
        change |= {"record": body, "cid": f"cid-{rkey}"}
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": change}


def follow(did: str, time_us: int, rkey: str, subject: str) -> dict[str, Any]:
    body = {
        "$type": "app.bsky.graph.follow",
        "subject": subject,
        "createdAt": "2026-11-01T00:00:00Z",
    }
    return commit(did, time_us, "app.bsky.graph.follow", rkey, body)


def delete(did: str, time_us: int, collection: str, rkey: str) -> dict[str, Any]:
    return commit(did, time_us, collection, rkey, operation="delete")


def identity(did: str, time_us: int) -> dict[str, Any]:
    """A handle change: Jetstream sends these whatever the wanted collections."""
    return {
        "did": did,
        "time_us": time_us,
        "kind": "identity",
        "identity": {
            "did": did,
            "handle": "new.bsky.social",
            "seq": 1,
            "time": "2026-11-01T00:00:00Z",
        },
    }


@dataclass
class FakeJetstream:
    messages: list[dict] = field(default_factory=list)
    drop_after: int | None = None  # cut the next connection after this many messages
    connections: list[dict[str, list[str]]] = field(default_factory=list)  # each one's query

    async def _serve(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        self.connections.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        wanted = set(query.get("wantedCollections", []))
        sent = 0
        for message in list(self.messages):
            if cursor is not None and message["time_us"] < cursor:
                continue
            if message["kind"] == "commit" and message["commit"]["collection"] not in wanted:
                continue
            await ws.send(json.dumps(message))
            sent += 1
            if sent == self.drop_after:
                self.drop_after = None
                ws.transport.abort()
                return
        await ws.wait_closed()


@contextlib.asynccontextmanager
async def jetstream(fake: FakeJetstream) -> AsyncIterator[str]:
    """Serve `fake` on 127.0.0.1 in the running event loop; yields its subscribe URL."""
    async with serve(fake._serve, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/subscribe"
