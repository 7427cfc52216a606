"""LinkedIn, from each member's data export ("Get a copy of your data"): connections and shares.

LinkedIn's API gives neither a member's connections nor their posts to a
company; the export the member downloads has both. It is the .zip LinkedIn
hands out or the folder it unzips to, with CSV files at the top:

- `Connections.csv`, note lines (`Notes:`, a quoted paragraph, a blank line)
  then `First Name,Last Name,URL,...,Connected On`. Connections are the
  member's audience (a connection sees their posts): the follower list, each
  person named by their profile address, lower-cased, without query or
  trailing slash (`profile_id`; the configured `account_id` is read the same
  way, so a colleague among the connections is recognised). LinkedIn leaves
  the address empty for some connections: they are counted in the progress
  line but cannot be listed. The list is diffed with the last export's
  (`pipeline.sources.snapshots`).
- `Shares.csv` (`Date,ShareLink,ShareCommentary,SharedUrl,...`, dates in UTC),
  when the member shared anything: posts, kind "original", named by their link.

The export's time is when its .zip was saved (its download), or in a folder the
newest modification time of the two files (unzipping keeps the zip's times).
Not the newest `Connected On` or share date: an export whose newest connection
was removed would look older than the one before and be skipped. Follows are
stamped at that time; an export older than the last one read for the account
is skipped, its list would undo the newer follows; each share is sent once.

A configured `followers_count` (the profile's followers, more than the
connections) is sent as `account_stats` at the export's time, without a
sample: connections are not a uniform sample of the followers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from pipeline.sources.archive import (
    Archive,
    ArchiveConnector,
    ArchiveError,
    newer_read,
    send_archive,
)
from pipeline.sources.config import ArchiveSource, ConfigError
from pipeline.sources.events import event_id
from schemas.events import AccountStats, Post

NETWORK = "linkedin"
CONNECTIONS = "Connections.csv"
SHARES = "Shares.csv"


def profile_id(url: str) -> str:
    """A profile address as one id: lower-case, without query, fragment or trailing slash."""
    parts = urlsplit(url.strip().lower())
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def rows(
    archive: Archive, name: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for each row under the header naming `columns`; the note lines above it skipped.

    `line` is where the row starts: a quoted cell may span lines.
    """
    try:
        text = archive.read(name).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{archive.path}: {name} is not UTF-8: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a cut file is an error
    start = 1
    try:
        for header in reader:
            start = reader.line_num + 1
            if all(column in header for column in columns):
                break
        else:
            raise ArchiveError(f"{archive.path}: {name} has no header line {','.join(columns)}")
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, dict(zip(header, row, strict=False))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ArchiveError(f"{archive.path}: {name} line {start}: {exc}") from exc


class LinkedInConnector(ArchiveConnector):
    """One run over the configured LinkedIn exports."""

    async def archive(self, source: ArchiveSource) -> None:
        if not source.account_id:
            raise ConfigError(f"linkedin archive of {source.employee_id} needs account_id")
        account_id = profile_id(source.account_id)
        with Archive(source.path) as archive:
            connections = [row.get("URL", "") for _, row in rows(archive, CONNECTIONS, ("URL",))]
            shared = SHARES in archive.files("")
            posts = [
                self._post(archive, line, row, source.employee_id, account_id)
                for line, row in (rows(archive, SHARES, ("Date", "ShareLink")) if shared else ())
            ]
            taken_at = archive.modified(CONNECTIONS, *([SHARES] if shared else []))
        newer = newer_read(self.conn, account_id, taken_at)
        if newer is not None:
            self.conn.progress(
                f"linkedin {account_id}: skipped {archive.path}, saved {taken_at.isoformat()}: "
                f"older than the export read before, saved {newer.isoformat()}"
            )
            return
        followers = [profile_id(url) for url in connections if url.strip()]
        follows, unfollows, sent = await send_archive(
            self.conn, account_id, taken_at, followers, posts
        )
        if source.followers_count is not None:
            await self._stats(account_id, source.followers_count, taken_at)
        self.conn.progress(
            f"linkedin {account_id}: export saved {taken_at.isoformat()}, "
            f"{len(connections):,} connections (+{follows:,} -{unfollows:,}; "
            f"{len(connections) - len(followers):,} without a profile address, not listed), "
            f"{sent:,} new shares"
        )

    @staticmethod
    def _post(
        archive: Archive, line: int, row: dict[str, str], employee_id: str, account_id: str
    ) -> Post:
        link, date = row.get("ShareLink", "").strip(), row.get("Date", "")
        where = f"{archive.path}: {SHARES} line {line}"
        if not link:
            raise ArchiveError(f"{where}: no ShareLink")
        try:
            occurred_at = datetime.strptime(date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError as exc:
            raise ArchiveError(f"{where}: Date {date!r} is not like 2026-11-30 14:03:11") from exc
        return Post(
            event_id=event_id(NETWORK, "post", link),
            occurred_at=occurred_at,
            post_id=link,
            employee_id=employee_id,
            network=NETWORK,
            account_id=account_id,
            text=row.get("ShareCommentary", ""),
            url=row.get("SharedUrl", "").strip() or link,
            kind="original",
        )

    async def _stats(self, account_id: str, followers_count: int, taken_at: datetime) -> None:
        """Sends the configured follower count unless this very figure was sent last."""
        stats = AccountStats(
            event_id=event_id(
                NETWORK, "account_stats", account_id, str(followers_count), taken_at.isoformat()
            ),
            occurred_at=taken_at,
            network=NETWORK,
            account_id=account_id,
            followers_count=followers_count,
        )
        if self.conn.read(f"stats/{account_id}", str) != stats.event_id:
            await self.conn.send([stats])
            await self.conn.write(f"stats/{account_id}", stats.event_id)
