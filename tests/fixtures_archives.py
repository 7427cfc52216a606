"""Members' data exports as X and LinkedIn hand them out, written to a folder or a .zip, with the truth.

`x_archive` and `linkedin_export` write what a member downloads (the files
the connectors read among some they ignore, in the networks' own layout and
formatting) and return what a reader must find in it: the followers, the
posts and the export's time. The connectors' tests and the end-to-end test
compare what arrives with that truth.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

X_ACCOUNT_ID = "4711"
X_USERNAME = "alice_chorus"
X_FOLLOWERS = ("1001", "1002", "1003", "1004", "1005")
GENERATED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # X's generationDate
SAVED = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)  # when the .zip was downloaded
# The member's profile address as the configuration gives it, and as Chorus names it.
LINKEDIN_PROFILE = "https://www.linkedin.com/in/Alice-Chorus/"
LINKEDIN_ACCOUNT_ID = "https://www.linkedin.com/in/alice-chorus"


@dataclass(frozen=True)
class ExpectedPost:
    occurred_at: datetime
    text: str
    kind: str
    url: str
    lang: str | None = None
    in_reply_to: str | None = None
    in_reply_to_author: str | None = None


@dataclass(frozen=True)
class Truth:
    """What an export holds: a connector must find exactly this."""

    path: Path
    account_id: str  # the Chorus account_id
    taken_at: datetime  # the follows' time
    followers: frozenset[str]
    posts: dict[str, ExpectedPost]  # by post_id
    unlisted: int = 0  # LinkedIn: connections without a profile address


class Tweet(NamedTuple):
    id: str
    created: datetime
    text: str  # as X stores it: &, < and > escaped, links shortened
    lang: str
    reply_to: tuple[str, str, str] | None = None  # status id, user id, screen name
    link: tuple[str, str] | None = None  # t.co link, the address it stands for


TWEETS = (
    Tweet(
        "1862000000000000001",
        datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
        "Chorus 2.0 is out &amp; it is fast: https://t.co/AbC123xyZ #launch",
        "en",
        link=("https://t.co/AbC123xyZ", "https://example.com/blog/chorus-2"),
    ),
    Tweet(
        "1862100000000000002",
        datetime(2026, 11, 25, 17, 2, 33, tzinfo=UTC),
        "@bob_builds 🙌",
        "und",
        reply_to=("1862050000000000099", "2002", "bob_builds"),
    ),
    Tweet(
        "1862200000000000003",
        datetime(2026, 11, 28, 12, 0, 1, tzinfo=UTC),
        "RT @carol: Audience overlap, measured &gt; guessed",
        "en",
    ),
)


def _js(name: str, part: int, entries: list[object]) -> bytes:
    """X's layout: two-space indents, a space before each colon."""
    body = json.dumps(entries, indent=2, ensure_ascii=False, separators=(",", " : "))
    return f"window.YTD.{name}.part{part} = {body}".encode()


def _tweet(tweet: Tweet) -> dict[str, object]:
    urls = []
    if tweet.link is not None:
        short, full = tweet.link
        start = tweet.text.index(short)
        urls.append(
            {
                "url": short,
                "expanded_url": full,
                "display_url": full.removeprefix("https://")[:24] + "…",
                "indices": [str(start), str(start + len(short))],
            }
        )
    entry: dict[str, object] = {
        "edit_info": {"initial": {"editTweetIds": [tweet.id], "editable": "false"}},
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": urls},
        "display_text_range": ["0", str(len(tweet.text))],
        "favorite_count": "3",
        "id_str": tweet.id,
        "truncated": False,
        "retweet_count": "1",
        "id": tweet.id,
        "created_at": tweet.created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "favorited": False,
        "full_text": tweet.text,
        "lang": tweet.lang,
    }
    if tweet.reply_to is not None:
        status, user, name = tweet.reply_to
        entry |= {
            "in_reply_to_status_id_str": status,
            "in_reply_to_status_id": status,
            "in_reply_to_user_id_str": user,
            "in_reply_to_user_id": user,
            "in_reply_to_screen_name": name,
        }
    return {"tweet": entry}


def _write(root: Path, name: str, files: dict[str, bytes], zipped: bool, saved: datetime) -> Path:
    """`files` in the folder `root/name`, or in `root/name.zip`, all last changed at `saved`."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = saved.timestamp()
    if zipped:
        path = root / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for file, data in files.items():
                info = zipfile.ZipInfo(file, saved.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        os.utime(path, (stamp, stamp))
        return path
    path = root / name
    for file, data in files.items():
        target = path / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, (stamp, stamp))
    return path


def x_archive(
    root: Path,
    *,
    zipped: bool = False,
    followers: Sequence[str] = X_FOLLOWERS,
    generated: datetime | None = GENERATED,
    saved: datetime = SAVED,
    tweets: Sequence[Tweet] = TWEETS,
) -> Truth:
    """An X archive in `root` (its followers split in follower.js and follower-part1.js).

    `generated=None` leaves out data/manifest.js, as very old archives do: the
    archive's time is then `saved`, the files' modification time.
    """
    half = (len(followers) + 1) // 2

    def follower(account_id: str) -> dict[str, object]:
        link = f"https://twitter.com/intent/user?user_id={account_id}"
        return {"follower": {"accountId": account_id, "userLink": link}}

    files = {
        "Your archive.html": b"<!DOCTYPE html><html><body>Your archive</body></html>",
        "data/account.js": _js(
            "account",
            0,
            [
                {
                    "account": {
                        "email": "alice@example.com",
                        "createdVia": "web",
                        "username": X_USERNAME,
                        "accountId": X_ACCOUNT_ID,
                        "createdAt": "2012-03-14T08:00:00.000Z",
                        "accountDisplayName": "Alice Chorus",
                    }
                }
            ],
        ),
        "data/follower.js": _js("follower", 0, [follower(f) for f in followers[:half]]),
        "data/follower-part1.js": _js("follower", 1, [follower(f) for f in followers[half:]]),
        "data/following.js": _js(
            "following",
            0,
            [
                {
                    "following": {
                        "accountId": "2002",
                        "userLink": "https://twitter.com/intent/user?user_id=2002",
                    }
                }
            ],
        ),
        "data/tweets.js": _js("tweets", 0, [_tweet(tweet) for tweet in tweets]),
        "data/tweets_media/1862000000000000001-Fh3kQ.jpg": b"\xff\xd8\xff\xe0 not really a JPEG",
    }
    if generated is not None:
        manifest = {
            "userInfo": {"accountId": X_ACCOUNT_ID, "userName": X_USERNAME},
            "archiveInfo": {
                "sizeBytes": "1048576",
                "generationDate": generated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "isPartialArchive": False,
                "maxPartSizeBytes": "53687091200",
            },
            "dataTypes": {"follower": {"files": [{"fileName": "data/follower.js"}]}},
        }
        body = json.dumps(manifest, indent=2, separators=(",", " : "))
        files["data/manifest.js"] = f"window.__THAR_CONFIG = {body}".encode()
    path = _write(root, "twitter-archive", files, zipped, saved)

    def expected(tweet: Tweet) -> ExpectedPost:
        text = html.unescape(tweet.text)
        if tweet.link is not None:
            text = text.replace(*tweet.link)
        return ExpectedPost(
            occurred_at=tweet.created,
            text=text,
            kind="repost"
            if tweet.text.startswith("RT @")
            else "reply"
            if tweet.reply_to
            else "original",
            url=f"https://x.com/{X_USERNAME}/status/{tweet.id}",
            lang=None if tweet.lang == "und" else tweet.lang,
            in_reply_to=tweet.reply_to[0] if tweet.reply_to else None,
            in_reply_to_author=tweet.reply_to[1] if tweet.reply_to else None,
        )

    return Truth(
        path=path,
        account_id=X_ACCOUNT_ID,
        taken_at=generated or saved,
        followers=frozenset(followers),
        posts={tweet.id: expected(tweet) for tweet in tweets},
    )


class Contact(NamedTuple):
    first: str
    last: str
    url: str  # empty for some connections: LinkedIn does not always give it
    company: str = ""
    connected_on: str = "01 Dec 2026"


class Share(NamedTuple):
    date: str  # UTC
    link: str
    commentary: str
    shared_url: str = ""


CONTACTS = (
    Contact(
        "Jane", "Doe", "https://www.linkedin.com/in/jane-doe-1234", "Acme, Inc.", "05 Dec 2026"
    ),
    Contact("Bob", "Smith", "https://www.linkedin.com/in/Bob-Smith/", "Globex"),
    Contact("Chen", "Li", "https://www.linkedin.com/in/chen-li-0a1b2c?trk=people-guest", "Initech"),
    Contact("Dana", "Who", "", "", "12 Oct 2026"),
)
SHARES = (
    Share(
        "2026-11-30 14:03:11",
        "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7268000000000000001",
        'We shipped Chorus 2.0!\nThree things we learned:\n- ship "small"\n- measure, then cut',
        "https://example.com/blog/chorus-2",
    ),
    Share(
        "2026-10-02 08:00:00",
        "https://www.linkedin.com/feed/update/urn%3Ali%3AugcPost%3A7250000000000000002",
        "We are hiring, in Lyon and remotely.",
    ),
)
NOTES = (
    "When exporting your connection data, you may notice that some of the email addresses are "
    "missing. You will only see email addresses for connections who have allowed their "
    "connections to see or download their email address using this setting "
    "https://www.linkedin.com/psettings/privacy/email. You can learn more about downloading "
    "your data at https://www.linkedin.com/help/linkedin/answer/50191"
)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def linkedin_export(
    root: Path,
    *,
    zipped: bool = False,
    contacts: Sequence[Contact] = CONTACTS,
    shares: Sequence[Share] | None = SHARES,
    saved: datetime = SAVED,
    notes: bool = True,
) -> Truth:
    """A LinkedIn export in `root`; `shares=None` leaves out Shares.csv (a member who never shared)."""
    connections = "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    connections += _csv(
        [[c.first, c.last, c.url, "", c.company, "Engineer", c.connected_on] for c in contacts]
    )
    if notes:
        connections = f'Notes:\n"{NOTES}"\n\n{connections}'
    files = {
        "Connections.csv": connections.encode(),
        "Profile.csv": b"First Name,Last Name,Headline\nAlice,Chorus,Engineer\n",
    }
    if shares is not None:
        files["Shares.csv"] = _csv(
            [["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl", "Visibility"]]
            + [[s.date, s.link, s.commentary, s.shared_url, "", "MEMBER_NETWORK"] for s in shares]
        ).encode()
    path = _write(root, "Basic_LinkedInDataExport_12-06-2026", files, zipped, saved)
    listed = [c.url.lower().partition("?")[0].rstrip("/") for c in contacts if c.url]
    return Truth(
        path=path,
        account_id=LINKEDIN_ACCOUNT_ID,
        taken_at=saved,
        followers=frozenset(listed),
        posts={
            s.link: ExpectedPost(
                occurred_at=datetime.strptime(s.date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC),
                text=s.commentary,
                kind="original",
                url=s.shared_url or s.link,
            )
            for s in shares or ()
        },
        unlisted=sum(not c.url for c in contacts),
    )
