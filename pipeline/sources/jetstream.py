"""Bluesky live, through Jetstream: follows of employees as they happen, their posts, replies to them.

Jetstream relays the network's firehose as JSON over a WebSocket. It is asked
for every follow and every post (`wantedDids` would filter by author, and the
author of a follow is the follower), and this module keeps:

- a follow record created whose subject is an employee's DID: a follow. A
  delete names only the record (`did`, `rkey`), so each kept follow's subject
  is stored under `jetstream/follows/<did>/<rkey>`; the delete of a stored
  one is an unfollow, of any other record nothing.
- a post by an employee: a Post, named as `bluesky.py` names it; a reply to an
  employee's post by anyone else: a comment, named as `bluesky.py` names it.

Other ids are the record's (did, collection, rkey) and the operation, so a
message read twice gives the same event. The cursor (the `time_us` of the
last message read) is saved with each batch, after its events are sent; a
restart or a reconnect resumes `resume_margin_seconds` before it, since a
message seen twice costs nothing and one never seen would be lost. Reconnects
wait as websockets' own reconnecting `connect` does (its jittered exponential
`backoff`, its `process_exception` to tell a drop from a refusal), but each
asks for a new URL: that iterator would reconnect with the first one's cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff, process_exception
from websockets.exceptions import ConnectionClosed

from pipeline.observability import CONNECTOR_FIREHOSE_LAG, CONNECTOR_SKIPPED
from pipeline.sources.bluesky import (
    NETWORK,
    POST,
    PostRecord,
    author_of,
    engagement,
    post_event,
    post_uri,
)
from pipeline.sources.config import BlueskyConfig
from pipeline.sources.events import event_id
from pipeline.sources.http import USER_AGENT
from pipeline.sources.run import Connection
from schemas.events import Event, Follow

log = logging.getLogger(__name__)

FOLLOW = "app.bsky.graph.follow"
CURSOR = "jetstream/cursor"
MAX_AHEAD_US = 3_600_000_000  # a message dated later than an hour from now is malformed


class _Commit(msgspec.Struct):
    operation: str
    collection: str
    rkey: str
    record: dict[str, Any] | None = None  # none in a delete
    cid: str | None = None


class _Message(msgspec.Struct):
    did: str
    time_us: int
    kind: str
    commit: _Commit | None = None  # only in kind "commit"


_decode = msgspec.json.Decoder(_Message).decode


def _at(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1e6, UTC)


class JetstreamConnector:
    """Follows Jetstream until stopped, sending batches of events and saving its cursor."""

    def __init__(
        self,
        config: BlueskyConfig,
        conn: Connection,
        *,
        batch: int = 500,
        flush_seconds: float = 1.0,
        reconnect_delays: Callable[[], Iterator[float]] = backoff,
    ) -> None:
        self.config = config
        self.conn = conn
        self.accounts = {account.did: account for account in config.accounts}
        self._batch = batch
        self._flush_seconds = flush_seconds  # also how long a stop may wait on a quiet stream
        self._reconnect_delays = reconnect_delays
        self._delays: Iterator[float] | None = None  # the backoff under way, if any
        self._events: list[Event] = []  # read, not yet sent
        self._follows: dict[str, str | None] = {}  # follow-map changes not yet saved
        self._cursor = conn.read(CURSOR, int)  # time_us of the last message read
        self._saved = self._cursor
        self._flush_due = 0.0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop if stop is not None else asyncio.Event()
        self._flush_due = asyncio.get_running_loop().time() + self._flush_seconds
        while not stop.is_set():
            url = self._url()
            try:
                ws = await connect(url, user_agent_header=USER_AGENT)
            except Exception as exc:
                if process_exception(exc) is not None:
                    raise  # not worth retrying (a 4xx, a bad URL)
                await self._pause(exc, stop)
                continue
            self.conn.progress(f"bluesky jetstream: connected to {url}")
            try:
                async with ws:
                    await self._read(ws, stop)
            except ConnectionClosed as exc:
                await self._pause(exc, stop)
        await self._flush()

    async def _pause(self, exc: Exception, stop: asyncio.Event) -> None:
        """After a dropped or refused connection: send what was read, back off (unless stopped)."""
        await self._flush()
        if self._delays is None:
            self._delays = self._reconnect_delays()
        delay = next(self._delays)
        log.warning("jetstream: %s; reconnecting in %.1f s", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    def _url(self) -> str:
        """The subscription, from the cursor less the margin when there is one."""
        parts = urlsplit(self.config.jetstream)
        query = [*parse_qsl(parts.query), *(("wantedCollections", c) for c in (FOLLOW, POST))]
        if self._cursor is not None:
            margin = round(self.config.resume_margin_seconds * 1_000_000)
            query.append(("cursor", str(self._cursor - margin)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _read(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                async with asyncio.timeout_at(self._flush_due):
                    data = await ws.recv()  # cancelling recv loses nothing (websockets)
            except TimeoutError:
                await self._flush()
                continue
            self._delays = None  # the connection works: a later drop backs off afresh
            self._handle(data)
            if len(self._events) >= self._batch or loop.time() >= self._flush_due:
                await self._flush()

    async def _flush(self) -> None:
        """Send what was read, then save the follow map and the cursor it leads to."""
        self._flush_due = asyncio.get_running_loop().time() + self._flush_seconds
        await self.conn.send(self._events)
        self._events = []
        for key, subject in list(self._follows.items()):
            await self.conn.write(key, subject)
            del self._follows[key]
        if self._cursor != self._saved:
            await self.conn.write(CURSOR, self._cursor)
            self._saved = self._cursor

    def _handle(self, data: str | bytes) -> None:
        """Reads one message; a malformed one is skipped (logged, counted), never raised."""
        try:
            message = _decode(data)
            now_us = int(self.conn.now().timestamp() * 1e6)
            if not 0 < message.time_us <= now_us + MAX_AHEAD_US:
                # A wild time would move the cursor past every real message to come.
                raise ValueError(f"time_us {message.time_us} is not a time of the last days")
            self._apply(message)
        except (msgspec.MsgspecError, ValueError, TypeError, OverflowError) as exc:
            CONNECTOR_SKIPPED.labels(NETWORK).inc()
            log.warning("jetstream: skipped a message: %s", exc)
            return
        self._cursor = max(self._cursor or 0, message.time_us)
        CONNECTOR_FIREHOSE_LAG.set((now_us - message.time_us) / 1e6)

    def _apply(self, message: _Message) -> None:
        commit = message.commit
        if message.kind != "commit" or commit is None:
            return  # identity and account changes
        if commit.collection == FOLLOW:
            self._follow(message, commit)
        elif commit.collection == POST and commit.operation in ("create", "update"):
            self._post(message, commit, msgspec.convert(commit.record, PostRecord))

    def _follow(self, message: _Message, commit: _Commit) -> None:
        key = f"jetstream/follows/{message.did}/{commit.rkey}"
        subject: str | None
        if commit.operation == "create":
            subject = (commit.record or {}).get("subject")
            if not isinstance(subject, str) or subject not in self.accounts:
                return
            self._follows[key], action = subject, "follow"
        elif commit.operation == "delete":
            subject = self._follows[key] if key in self._follows else self.conn.read(key, str)
            if subject is None:
                return  # not a follow of an employee, or one followed before the map began
            self._follows[key], action = None, "unfollow"
        else:
            return
        self._events.append(
            Follow(
                event_id=event_id(
                    NETWORK, action, message.did, commit.collection, commit.rkey, commit.operation
                ),
                occurred_at=_at(message.time_us),
                network=NETWORK,
                account_id=subject,
                follower_id=message.did,
                action=action,  # type: ignore[arg-type]
            )
        )

    def _post(self, message: _Message, commit: _Commit, record: PostRecord) -> None:
        uri = post_uri(message.did, commit.rkey)
        account = self.accounts.get(message.did)
        if account is not None and commit.cid is not None:
            self._events.append(
                post_event(account.employee_id, message.did, uri, commit.cid, record)
            )
        parent = record.reply.parent.uri if record.reply is not None else ""
        answered = author_of(parent)
        if commit.operation == "create" and answered in self.accounts and answered != message.did:
            self._events.append(engagement("comment", parent, message.did, record.created_at, uri))
