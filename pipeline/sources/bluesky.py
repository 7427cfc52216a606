"""Bluesky, per account, through an AppView's XRPC API: followers, posts, engagement, domains.

People are keyed by DID (`did:plc:…`): a handle is a name its owner may
change, the DID stays. A post's id is its at:// URI,
`at://<did>/app.bsky.feed.post/<rkey>`, and its version the record's CID, so
that the API and Jetstream (`jetstream.py`, which builds its posts and
comments with `post_event` and `engagement` here) name a post identically.

Per account and run:

- followers: the whole list (paged by `cursor`), diffed with the last one
  (`pipeline.sources.snapshots`); a follower whose handle is a domain of its
  own (not `*.bsky.social`) proved it to Bluesky: `claim_domain`.
- posts: the author feed, newest first, down to the newest item of the last
  run less `OVERLAP` (an AppView indexes a little out of order), or on a first
  run down to `posts_since` (never past it). A repost is `kind="repost"` with the reposted
  text; the feed does not give the repost's own record, so its post_id is
  `repost:<did>:<reposted uri>` (an account reposts a post once: the app
  toggles it).
- engagement: for the account's newest `engagement_posts` posts, new this
  run or not (likes and reposts come long after the post, and Jetstream is not
  asked for them), sent when it changed (`Connection.send_changed`), reposts
  excepted: likes (at the like's time), reposts
  (at the post's: the list carries no time), direct replies by others (at the
  reply's; one comment per reply, named by its URI as Jetstream names it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec

from pipeline.sources.config import BlueskyAccount, BlueskyConfig
from pipeline.sources.events import event_id
from pipeline.sources.http import ApiClient, Params
from pipeline.sources.identity import claim_domain
from pipeline.sources.run import Connection
from schemas.events import Engagement, Post

NETWORK = "bluesky"
POST = "app.bsky.feed.post"  # the collection of post records
REPOST_REASON = "app.bsky.feed.defs#reasonRepost"
PAGE = 100  # the largest page every endpoint read here gives
OVERLAP = timedelta(minutes=15)


class _Ref(msgspec.Struct):
    uri: str


class _ReplyRef(msgspec.Struct):
    parent: _Ref


class PostRecord(msgspec.Struct, rename="camel"):
    """What of an `app.bsky.feed.post` record makes a Post (the API's and Jetstream's alike)."""

    created_at: Annotated[datetime, msgspec.Meta(tz=True)]  # as the contract wants it
    text: str = ""
    langs: list[str] = []
    reply: _ReplyRef | None = None


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


def author_of(uri: str) -> str | None:
    """The DID of a post's `at://<did>/app.bsky.feed.post/<rkey>` URI; None for anything else."""
    did, _, path = uri.removeprefix("at://").partition("/")
    is_post = uri.startswith("at://") and did.startswith("did:") and path.startswith(f"{POST}/")
    return did if is_post else None


def _web_url(uri: str) -> str:
    did, _, path = uri.removeprefix("at://").partition("/")
    return f"https://bsky.app/profile/{did}/post/{path.rpartition('/')[2]}"


def post_event(employee_id: str, did: str, uri: str, cid: str, record: PostRecord) -> Post:
    """The post `uri` of the employee's account `did`, at version `cid`."""
    parent = record.reply.parent.uri if record.reply is not None else None
    return Post(
        event_id=event_id(NETWORK, "post", uri, cid),
        occurred_at=record.created_at,
        post_id=uri,
        employee_id=employee_id,
        network=NETWORK,
        account_id=did,
        text=record.text,
        lang=record.langs[0] if record.langs else None,
        url=_web_url(uri),
        kind="reply" if parent is not None else "original",
        in_reply_to=parent,
        in_reply_to_author=author_of(parent) if parent is not None else None,
    )


def engagement(kind: str, post_uri: str, actor: str, at: datetime, what: str) -> Engagement:
    """`actor`'s `kind` on `post_uri`; `what` names it among the post's (the liker, the reply's URI)."""
    return Engagement(
        event_id=event_id(NETWORK, kind, post_uri, what),
        occurred_at=at,
        post_id=post_uri,
        network=NETWORK,
        actor_id=actor,
        kind=kind,  # type: ignore[arg-type]
    )


def _time(value: str) -> datetime:
    return msgspec.convert(value, datetime)


def _sorted_at(item: dict[str, Any]) -> datetime:
    """When a feed item entered the feed: the repost's time for a repost, else the post's."""
    reason = item.get("reason") or {}
    return _time(reason.get("indexedAt") or item["post"]["indexedAt"])


def _is_repost(item: dict[str, Any]) -> bool:
    return (item.get("reason") or {}).get("$type") == REPOST_REASON


class BlueskyConnector:
    """One run over the configured Bluesky accounts."""

    def __init__(self, config: BlueskyConfig, conn: Connection, api: ApiClient) -> None:
        self.config = config
        self.conn = conn
        self.api = api
        self.service = config.service.rstrip("/")

    async def run(self) -> None:
        await self.conn.each(self.config.accounts, lambda account: account.did, self.account)

    async def account(self, account: BlueskyAccount) -> None:
        did = account.did
        followers: list[str] = []
        links = 0
        async for follower in self._pages(
            "app.bsky.graph.getFollowers", {"actor": did}, "followers"
        ):
            followers.append(follower["did"])
            handle = follower["handle"].lower()  # "handle.invalid" when it failed verification
            if handle != "handle.invalid" and not handle.endswith(".bsky.social"):
                links += len(await claim_domain(self.conn, handle, NETWORK, follower["did"]))
        follows, unfollows = await self.conn.sync_followers(did, followers)

        posts = await self._posts(account)
        self.conn.progress(
            f"bluesky {did}: {len(followers):,} followers (+{follows:,} -{unfollows:,}), "
            f"{posts:,} new posts, {links:,} identity links"
        )

    async def _pages(self, method: str, params: Params, key: str) -> AsyncIterator[Any]:
        """Every item under `key` of an XRPC list, passing its `cursor` back until it gives none."""
        cursor: str | None = None
        while True:
            query: Params = {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = await self.api.get(f"{self.service}/xrpc/{method}", query)
            for item in page.body.get(key) or []:
                yield item
            cursor = page.body.get("cursor")
            if not cursor:
                return

    async def _posts(self, account: BlueskyAccount) -> int:
        checkpoint = f"feed/{account.did}"
        newest_seen = self.conn.read(checkpoint, datetime)
        since = self.config.posts_since
        fresh_from = newest_seen - OVERLAP if newest_seen is not None else since
        wanted = self.config.engagement_posts
        posts: list[Post] = []
        newest: datetime | None = None
        engaged: list[dict[str, Any]] = []  # post views whose engagement is read
        read = 0  # the employee's feed items read, newest first
        feed = self._pages("app.bsky.feed.getAuthorFeed", {"actor": account.did}, "feed")
        async for item in feed:
            at = _sorted_at(item)
            old = fresh_from is not None and at < fresh_from
            if (since is not None and at < since) or (old and read >= wanted):
                break
            post = self._post(item, account)
            if post is None:
                continue
            read += 1
            if not old:
                posts.append(post)
                newest = max(newest or at, at)
            if read <= wanted and post.kind != "repost":
                engaged.append(item["post"])
        await self.conn.send(posts)
        if newest is not None:
            await self.conn.write(checkpoint, newest)
        for view in engaged:
            events = await self._engagement(view, account.did)
            await self.conn.send_changed(f"engagement/{view['uri']}", events)
        return len(posts)

    def _post(self, item: dict[str, Any], account: BlueskyAccount) -> Post | None:
        """A feed item as the employee's Post; None for someone else's post in the feed."""
        view = item["post"]
        record = msgspec.convert(view["record"], PostRecord)
        if not _is_repost(item):
            if view["author"]["did"] != account.did:
                return None
            return post_event(account.employee_id, account.did, view["uri"], view["cid"], record)
        post_id = f"repost:{account.did}:{view['uri']}"
        return Post(
            event_id=event_id(NETWORK, "post", post_id, view["cid"]),
            occurred_at=_sorted_at(item),
            post_id=post_id,
            employee_id=account.employee_id,
            network=NETWORK,
            account_id=account.did,
            text=record.text,
            lang=record.langs[0] if record.langs else None,
            url=_web_url(view["uri"]),
            kind="repost",
        )

    async def _engagement(self, view: dict[str, Any], did: str) -> list[Engagement]:
        uri = view["uri"]
        events: list[Engagement] = []
        if view.get("likeCount", 1):
            async for like in self._pages("app.bsky.feed.getLikes", {"uri": uri}, "likes"):
                actor = like["actor"]["did"]
                events.append(engagement("like", uri, actor, _time(like["createdAt"]), actor))
        if view.get("repostCount", 1):
            posted = msgspec.convert(view["record"], PostRecord).created_at
            async for who in self._pages("app.bsky.feed.getRepostedBy", {"uri": uri}, "repostedBy"):
                events.append(engagement("share", uri, who["did"], posted, who["did"]))
        if view.get("replyCount", 1):
            thread = await self.api.get(
                f"{self.service}/xrpc/app.bsky.feed.getPostThread",
                {"uri": uri, "depth": 1, "parentHeight": 0},
            )
            for reply in (thread.body.get("thread") or {}).get("replies") or []:
                answer = reply.get("post")  # absent for a reply not found or blocked
                if answer is None or answer["author"]["did"] == did:
                    continue  # the employee answering in their own thread is a post
                at = msgspec.convert(answer["record"], PostRecord).created_at
                actor = answer["author"]["did"]
                events.append(engagement("comment", uri, actor, at, answer["uri"]))
        return events
