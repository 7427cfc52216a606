"""X (Twitter), from each member's archive ("Download an archive of your data"): followers, posts.

X sells its API's follower lists; the archive a member downloads has them for
free. It is the .zip X hands out or the folder it unzips to, with `data/*.js`
files, each a JavaScript assignment `window.YTD.<name>.partN = [...]` whose
value is JSON. The value is parsed as JSON after the `=`, never evaluated:
anything else in the file (code before or after the array) is an error naming
the file. Large archives continue a file in `-part1.js`, `-part2.js`, ...; a
gap in the parts is an error, because a follower list with a part missing
would read as a wave of unfollows.

The account is the archive's own (`data/account.js`): its numeric `accountId`
is the Chorus account_id, which a configured `account_id` must match.
Followers, numeric ids too (the archive gives nothing else), are diffed with
the last archive's list (`pipeline.sources.snapshots`) and stamped at the
archive's generation (`data/manifest.js`, else the modification time of the
.zip or of the files read), not at the run. An archive older than the last one
read for the account is skipped: its list would undo the newer follows.
Tweets become posts as their readers see them (HTML entities decoded, t.co
links expanded), `RT @name:` retweets as reposts, replies with the tweet and
account they answer; each post is sent once (a cursor keeps the newest sent).

No engagement events: the archive counts each tweet's likes and retweets
(`favorite_count`, `retweet_count`) but does not say who, and an engagement
event needs its actor.

The archive itself and what one changes are `pipeline.sources.archive`'s.
"""

from __future__ import annotations

import codecs
import html
import re
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from pipeline.sources.archive import (
    Archive,
    ArchiveConnector,
    ArchiveError,
    newer_read,
    send_archive,
)
from pipeline.sources.config import ArchiveSource
from pipeline.sources.events import event_id
from schemas.events import Post

NETWORK = "x"
ACCOUNT = "data/account.js"
# X's languages for "no language": undetermined, no linguistic content, and its own q-codes
# (media, hashtags, cashtags, mentions only...).
NO_LANGUAGE = frozenset({"und", "zxx", "qam", "qct", "qht", "qme", "qst"})
YTD = (re.compile(rb"\s*window\.YTD\.\w+\.part[0-9]+\s*=\s*"), "window.YTD.<name>.partN = [...]")
THAR = (re.compile(rb"\s*window\.__THAR_CONFIG\s*=\s*"), "window.__THAR_CONFIG = {...}")

T = TypeVar("T")


# -- what the archive's files hold (msgspec ignores the many fields not read) -------------------


class _Account(msgspec.Struct, rename="camel"):
    account_id: str
    username: str


class _AccountEntry(msgspec.Struct):
    account: _Account


class _Follower(msgspec.Struct, rename="camel"):
    account_id: Annotated[str, msgspec.Meta(min_length=1)]


class _FollowerEntry(msgspec.Struct):
    follower: _Follower


class _Url(msgspec.Struct):
    url: str
    expanded_url: str | None = None


class _Entities(msgspec.Struct):
    urls: list[_Url] = []


class _Tweet(msgspec.Struct):
    id_str: Annotated[str, msgspec.Meta(pattern="^[0-9]+$")]
    full_text: str
    created_at: str  # "Wed Oct 10 20:19:24 +0000 2018"
    lang: str | None = None
    in_reply_to_status_id_str: str | None = None
    in_reply_to_user_id_str: str | None = None
    entities: _Entities | None = None


class _TweetEntry(msgspec.Struct):
    tweet: _Tweet


class _ArchiveInfo(msgspec.Struct, rename="camel"):
    generation_date: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class _Manifest(msgspec.Struct, rename="camel"):
    archive_info: _ArchiveInfo | None = None


def parse_js(archive: Archive, name: str, form: tuple[re.Pattern[bytes], str], kind: type[T]) -> T:
    """The JSON value assigned in the JavaScript file `name`, read as `kind`, never evaluated."""
    data = archive.read(name).removeprefix(codecs.BOM_UTF8)
    pattern, shape = form
    prefix = pattern.match(data)
    if prefix is None:
        raise ArchiveError(f"{archive.path}: {name} is not `{shape}`")
    try:
        return msgspec.json.decode(memoryview(data)[prefix.end() :], type=kind)
    except msgspec.ValidationError as exc:
        raise ArchiveError(f"{archive.path}: {name}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ArchiveError(f"{archive.path}: {name} is not `{shape}`: {exc}") from exc


def parts(archive: Archive, stem: str) -> list[str]:
    """`stem`.js and its continuations `stem`-part1.js, ... in order; [] if there is none."""
    folder, _, base = stem.rpartition("/")
    pattern = re.compile(rf"{re.escape(base)}(?:-part([0-9]+))?\.js")
    found = {
        int(match[1] or 0): f"{folder}/{name}"
        for name in archive.files(folder)
        if (match := pattern.fullmatch(name))
    }
    if sorted(found) != list(range(len(found))):
        raise ArchiveError(f"{archive.path}: {stem} has parts {sorted(found)}, some are missing")
    return [found[number] for number in sorted(found)]


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")


def _text(tweet: _Tweet) -> str:
    """The text as shown: X escapes &, < and > in it and shortens links to t.co."""
    text = tweet.full_text
    for link in tweet.entities.urls if tweet.entities is not None else ():
        if link.expanded_url:
            text = text.replace(link.url, link.expanded_url)
    return html.unescape(text)


class XArchiveConnector(ArchiveConnector):
    """One run over the configured X archives."""

    async def archive(self, source: ArchiveSource) -> None:
        with Archive(source.path) as archive:
            entries = parse_js(archive, ACCOUNT, YTD, list[_AccountEntry])
            if len(entries) != 1:
                raise ArchiveError(f"{archive.path}: {ACCOUNT} has {len(entries)} accounts, not 1")
            account = entries[0].account
            if source.account_id not in (None, account.account_id):
                raise ArchiveError(
                    f"{archive.path}: {ACCOUNT} is @{account.username}, accountId "
                    f"{account.account_id}, not the configured account_id {source.account_id}"
                )
            follower_files = parts(archive, "data/follower")
            tweet_files = parts(archive, "data/tweets") or parts(archive, "data/tweet")
            if not follower_files:
                raise ArchiveError(f"{archive.path}: data/follower.js is missing")
            if not tweet_files:
                raise ArchiveError(f"{archive.path}: data/tweets.js (or data/tweet.js) is missing")
            taken_at = self._generated(archive) or archive.modified(
                ACCOUNT, *follower_files, *tweet_files
            )
            who = f"x @{account.username} ({account.account_id})"
            newer = newer_read(self.conn, account.account_id, taken_at)
            if newer is not None:
                self.conn.progress(
                    f"{who}: skipped {archive.path}, made {taken_at.isoformat()}: older than "
                    f"the archive read before, made {newer.isoformat()}"
                )
                return
            followers = [
                entry.follower.account_id
                for name in follower_files
                for entry in parse_js(archive, name, YTD, list[_FollowerEntry])
            ]
            posts = [
                self._post(archive, name, entry.tweet, source, account)
                for name in tweet_files
                for entry in parse_js(archive, name, YTD, list[_TweetEntry])
            ]
        follows, unfollows, sent = await send_archive(
            self.conn, account.account_id, taken_at, followers, posts
        )
        self.conn.progress(
            f"{who}: archive made {taken_at.isoformat()}, {len(set(followers)):,} followers "
            f"(+{follows:,} -{unfollows:,}), {sent:,} new posts"
        )

    @staticmethod
    def _generated(archive: Archive) -> datetime | None:
        if "manifest.js" not in archive.files("data"):
            return None
        info = parse_js(archive, "data/manifest.js", THAR, _Manifest).archive_info
        return info.generation_date if info is not None else None

    @staticmethod
    def _post(
        archive: Archive, name: str, tweet: _Tweet, source: ArchiveSource, account: _Account
    ) -> Post:
        try:
            occurred_at = _time(tweet.created_at)
        except ValueError as exc:
            raise ArchiveError(
                f"{archive.path}: {name}: tweet {tweet.id_str} created_at {tweet.created_at!r} "
                "is not like 'Wed Oct 10 20:19:24 +0000 2018'"
            ) from exc
        reply_to = tweet.in_reply_to_status_id_str or None
        retweet = tweet.full_text.startswith("RT @")
        return Post(
            event_id=event_id(NETWORK, "post", tweet.id_str),
            occurred_at=occurred_at,
            post_id=tweet.id_str,
            employee_id=source.employee_id,
            network=NETWORK,
            account_id=account.account_id,
            text=_text(tweet),
            lang=tweet.lang if tweet.lang and tweet.lang not in NO_LANGUAGE else None,
            url=f"https://x.com/{account.username}/status/{tweet.id_str}",
            kind="repost" if retweet else "reply" if reply_to else "original",
            in_reply_to=reply_to,
            in_reply_to_author=(tweet.in_reply_to_user_id_str or None) if reply_to else None,
        )
