"""Mastodon, per instance, through its REST API: followers, posts, engagement, verified links.

People are keyed by their address, `user@domain` (lower-cased): account ids
are local to an instance, and a follower on another instance has another id
on each. A follower's `acct` without a domain is local to the instance read,
whose domain is the employee's (`MastodonAccount.domain`). A post's id is the
instance's domain (the employee's, as in their address) and its status id
(`mastodon.social/113…`): status ids too are local to the instance, which is
also how `in_reply_to_id` names the post a reply answers.

Per account and run: the follower list (whole, paged by `Link`, then diffed
with the last one: `pipeline.sources.snapshots`), the statuses newer than the
last one seen (boosts kept as `kind="repost"` with the boosted text: a boost is
the employee's choice to relay it), and for the newest `engagement_posts`
posts, new this run or not (favourites come long after the post), who
favourited (like), boosted (share) and replied (comment, one per reply), sent
when it changed (`Connection.send_changed`). Edits of a post already read are
not re-read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from pipeline.sources.config import MastodonAccount, MastodonConfig
from pipeline.sources.events import event_id
from pipeline.sources.http import ApiClient, Params
from pipeline.sources.identity import bluesky_profile, claim_domain, host_of, link
from pipeline.sources.run import Connection
from schemas.events import Engagement, Post

NETWORK = "mastodon"
PAGE = 80  # the largest page the followers and favourited_by endpoints give
STATUS_PAGE = 40


class _Text(HTMLParser):
    """A status's HTML as the plain text its readers see; the links of a profile field."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "a":
            self.links += [value for name, value in attrs if name == "href" and value]

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parse_html(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser


def plain_text(html: str) -> str:
    return "".join(parse_html(html).parts).strip()


def full_acct(acct: str, domain: str) -> str:
    """`acct` with its domain, lower-cased: `bob` on example.social is `bob@example.social`."""
    acct = acct.strip().lstrip("@").lower()
    return acct if "@" in acct else f"{acct}@{domain}"


def _newer(status_id: str, than: str | None) -> bool:
    """Status ids are numbers in strings: longer is newer, then by digits."""
    return than is None or (len(status_id), status_id) > (len(than), than)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class MastodonConnector:
    """One run over the configured Mastodon accounts."""

    def __init__(
        self,
        config: MastodonConfig,
        conn: Connection,
        api: ApiClient,
        resolve_handle: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.config = config
        self.conn = conn
        self.api = api
        # A Bluesky handle named by a verified link -> its DID (when Bluesky is configured).
        self.resolve_handle = resolve_handle
        self._handles: dict[str, str | None] = {}

    async def run(self) -> None:
        await self.conn.each(self.config.accounts, lambda account: account.acct, self.account)

    async def account(self, account: MastodonAccount) -> None:
        acct = full_acct(account.acct, account.domain)
        base = account.base_url
        found = await self.api.get(f"{base}/api/v1/accounts/lookup", {"acct": acct})
        local_id = str(found.body["id"])

        followers: list[str] = []
        links = 0
        async for follower in self._pages(f"{base}/api/v1/accounts/{local_id}/followers"):
            follower_acct = full_acct(follower["acct"], account.domain)
            followers.append(follower_acct)
            links += await self._evidence(follower_acct, follower.get("fields") or [])
        follows, unfollows = await self.conn.sync_followers(acct, followers)

        posts = await self._posts(account, acct, base, local_id)
        self.conn.progress(
            f"mastodon {acct}: {len(followers):,} followers (+{follows:,} -{unfollows:,}), "
            f"{posts:,} new posts, {links:,} identity links"
        )

    async def _pages(self, url: str, params: Params | None = None) -> AsyncIterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"`."""
        next_url: str | None = url
        query: Params | None = {"limit": PAGE, **(params or {})}
        while next_url is not None:
            page = await self.api.get(next_url, query)
            for item in page.body:
                yield item
            next_url, query = page.next_url, None  # the next link carries its own query

    async def _posts(self, account: MastodonAccount, acct: str, base: str, local_id: str) -> int:
        checkpoint = f"statuses/{acct}"
        newest_seen = self.conn.read(checkpoint, str)
        domain = account.domain
        statuses: list[dict[str, Any]] = []  # newer than the last run's newest
        recent: list[dict[str, Any]] | None = None  # the first page: whose engagement is read
        url: str | None = f"{base}/api/v1/accounts/{local_id}/statuses"
        query: Params | None = {"limit": STATUS_PAGE}
        while url is not None:
            page = await self.api.get(url, query)
            recent = page.body if recent is None else recent
            fresh = [status for status in page.body if _newer(str(status["id"]), newest_seen)]
            if self.config.posts_since is not None:
                fresh = [s for s in fresh if _time(s["created_at"]) >= self.config.posts_since]
            statuses += fresh
            if len(fresh) < len(page.body):
                break  # reached what was read before, or the first run's horizon
            url, query = page.next_url, None
        posts = [await self._post(status, account, acct, domain, local_id) for status in statuses]
        await self.conn.send(posts)
        if statuses:
            newest = max((str(s["id"]) for s in statuses), key=lambda i: (len(i), i))
            await self.conn.write(checkpoint, newest)
        originals = [status for status in recent or [] if status.get("reblog") is None]
        for status in originals[: self.config.engagement_posts]:
            events = await self._engagement(status, account, base, domain, local_id)
            await self.conn.send_changed(f"engagement/{domain}/{status['id']}", events)
        return len(posts)

    async def _post(
        self,
        status: dict[str, Any],
        account: MastodonAccount,
        acct: str,
        domain: str,
        local_id: str,
    ) -> Post:
        post_id = f"{domain}/{status['id']}"
        boosted = status.get("reblog")
        shown = boosted if boosted is not None else status
        reply_to = status.get("in_reply_to_id")
        author = None
        if reply_to is not None:
            author = await self._acct_of(
                str(status.get("in_reply_to_account_id")), status, account, acct, local_id
            )
        version = status.get("edited_at") or status["created_at"]
        return Post(
            event_id=event_id(NETWORK, "post", post_id, version),
            occurred_at=_time(status["created_at"]),
            post_id=post_id,
            employee_id=account.employee_id,
            network=NETWORK,
            account_id=acct,
            text=plain_text(shown.get("content") or ""),
            lang=shown.get("language") or None,
            url=status.get("url") or shown.get("url") or None,
            kind="repost" if boosted is not None else "reply" if reply_to else "original",
            in_reply_to=f"{domain}/{reply_to}" if reply_to is not None else None,
            in_reply_to_author=author,
        )

    async def _acct_of(
        self,
        account_id: str,
        status: dict[str, Any],
        account: MastodonAccount,
        acct: str,
        local_id: str,
    ) -> str | None:
        """The address of the account a reply answers: itself, a mention, else the API."""
        if account_id == local_id:
            return acct
        for mention in status.get("mentions") or []:
            if str(mention.get("id")) == account_id:
                return full_acct(mention["acct"], account.domain)
        if account_id in ("", "None"):
            return None
        found = await self.api.get(f"{account.base_url}/api/v1/accounts/{quote(account_id)}")
        return full_acct(found.body["acct"], account.domain)

    async def _engagement(
        self,
        status: dict[str, Any],
        account: MastodonAccount,
        base: str,
        domain: str,
        local_id: str,
    ) -> list[Engagement]:
        post_id = f"{domain}/{status['id']}"
        at = _time(status["created_at"])

        def engaged(kind: str, actor: str, when: datetime, what: str = "") -> Engagement:
            return Engagement(
                event_id=event_id(NETWORK, kind, post_id, actor, *([what] if what else [])),
                occurred_at=when,
                post_id=post_id,
                network=NETWORK,
                actor_id=actor,
                kind=kind,  # type: ignore[arg-type]
            )

        # Favourites and boosts carry no time of their own: they are stamped at the post's.
        events: list[Engagement] = []
        if status.get("favourites_count", 1):
            async for who in self._pages(f"{base}/api/v1/statuses/{status['id']}/favourited_by"):
                events.append(engaged("like", full_acct(who["acct"], account.domain), at))
        if status.get("reblogs_count", 1):
            async for who in self._pages(f"{base}/api/v1/statuses/{status['id']}/reblogged_by"):
                events.append(engaged("share", full_acct(who["acct"], account.domain), at))
        if status.get("replies_count", 1):
            context = await self.api.get(f"{base}/api/v1/statuses/{status['id']}/context")
            for reply in context.body.get("descendants", []):
                if str(reply.get("in_reply_to_id")) != str(status["id"]):
                    continue
                if str(reply["account"]["id"]) == local_id:
                    continue  # the employee answering in their own thread is a post, not engagement
                who = full_acct(reply["account"]["acct"], account.domain)
                when = _time(reply["created_at"])
                events.append(engaged("comment", who, when, str(reply["id"])))  # one per reply
        return events

    async def _evidence(self, acct: str, fields: list[dict[str, Any]]) -> int:
        """Sends the identity links of a follower's verified profile fields; returns how many.

        See `pipeline.sources.identity`.
        """
        links = 0
        for profile_field in fields:
            if not profile_field.get("verified_at"):
                continue
            for url in parse_html(profile_field.get("value") or "").links:
                actor = bluesky_profile(url)
                if actor is not None:
                    did = actor if actor.startswith("did:") else await self._did_of(actor)
                    linked = self.conn.read(f"verified/{acct}", list[str]) or []
                    if did is not None and did not in linked:
                        evidence = f"verified_link: {url}"
                        await self.conn.send(
                            [link(NETWORK, acct, "bluesky", did, evidence, self.conn)]
                        )
                        await self.conn.write(f"verified/{acct}", [*linked, did])
                        links += 1
                elif (host := host_of(url)) is not None:
                    links += len(await claim_domain(self.conn, host, NETWORK, acct))
        return links

    async def _did_of(self, handle: str) -> str | None:
        if self.resolve_handle is None:
            return None
        if handle not in self._handles:
            self._handles[handle] = await self.resolve_handle(handle)
        return self._handles[handle]
