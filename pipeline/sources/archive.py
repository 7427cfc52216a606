"""A member's data export, as X and LinkedIn hand it out, and what one export changes.

Both networks give a member a .zip (or the folder it unzips to) of files as
of one moment. `send_archive` turns one into events: the follower list
diffed with the last export's, stamped at the export's time, not the run's;
posts not sent before, oldest first, with a cursor after each batch. An export
older than the last one read for the account is skipped (`newer_read`): its
list would undo the newer follows.
"""

from __future__ import annotations

import posixpath
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pipeline.sources.config import ArchiveConfig, ArchiveSource, ConfigError
from pipeline.sources.run import Connection
from schemas.events import Post

BATCH = 1000  # posts per send; the cursor is saved after each


class ArchiveError(ConfigError):
    """An archive named by the configuration cannot be read; the message names the file."""


class Archive:
    """A member's data export as the network hands it out: a .zip, or the folder it unzips to."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_file() and zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
        elif not self.path.is_dir():
            raise ArchiveError(f"{self.path}: not a folder nor a .zip")

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._zip is not None:
            self._zip.close()

    def files(self, folder: str) -> list[str]:
        """The names of the files directly in `folder` ("" for the top)."""
        if self._zip is not None:
            return [
                posixpath.basename(name)
                for name in self._zip.namelist()
                if posixpath.dirname(name) == folder and not name.endswith("/")
            ]
        directory = self.path / folder
        return (
            [item.name for item in directory.iterdir() if item.is_file()]
            if directory.is_dir()
            else []
        )

    def read(self, name: str) -> bytes:
        """The bytes of `name` (a path inside the archive)."""
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.path / name).read_bytes()
        except (KeyError, FileNotFoundError) as exc:
            raise ArchiveError(f"{self.path}: {name} is missing") from exc
        except (OSError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"{self.path}: {name} cannot be read: {exc}") from exc

    def modified(self, *names: str) -> datetime:
        """When the archive was made, as far as the files tell: when the .zip was saved.

        That is its download; in a folder, the newest of `names`, files found
        there (unzipping keeps the times the zip gives its files).
        """
        if self._zip is not None:
            stamp = self.path.stat().st_mtime
        else:
            stamp = max((self.path / name).stat().st_mtime for name in names)
        return datetime.fromtimestamp(stamp, UTC)


def newer_read(conn: Connection, account_id: str, taken_at: datetime) -> datetime | None:
    """The time of the archive read last for `account_id` if it is newer than `taken_at`."""
    last = conn.read(f"archive/{account_id}", datetime)
    return last if last is not None and last > taken_at else None


async def send_archive(
    conn: Connection, account_id: str, taken_at: datetime, followers: list[str], posts: list[Post]
) -> tuple[int, int, int]:
    """Sends what an archive taken at `taken_at` changes; returns (follows, unfollows, posts).

    Follows and unfollows are stamped at `taken_at`, the list's time. Posts go out
    oldest first, by batches each followed by the cursor (time, post_id) of its
    newest: a killed run resumes after the last batch saved, and a post older
    than the cursor was in an archive read before.
    """
    follows, unfollows = await conn.sync_followers(account_id, followers, taken_at)
    cursor_key = f"posts/{account_id}"
    cursor = conn.read(cursor_key, tuple[datetime, str])
    fresh = sorted(
        (post for post in posts if cursor is None or (post.occurred_at, post.post_id) > cursor),
        key=lambda post: (post.occurred_at, post.post_id),
    )
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start : start + BATCH]
        await conn.send(batch)
        await conn.write(cursor_key, (batch[-1].occurred_at, batch[-1].post_id))
    await conn.write(f"archive/{account_id}", taken_at)
    return follows, unfollows, len(fresh)


class ArchiveConnector:
    """One run over a network's configured exports, each read by `archive` (the network's)."""

    def __init__(self, config: ArchiveConfig, conn: Connection) -> None:
        self.config = config
        self.conn = conn

    async def run(self) -> None:
        await self.conn.each(self.config.archives, lambda source: source.path, self.archive)

    async def archive(self, source: ArchiveSource) -> None:
        raise NotImplementedError
