"""`chorus connect` for every network, into the real broker, through a worker, into ClickHouse.

The networks are loopback servers speaking their documented APIs
(tests/fakes_*.py) and exports written by tests/fixtures_archives.py; the
community report in ClickHouse must equal the truth computed from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline import warehouse
from tests.fakes_bluesky import FakeAppView, FakeJetstream, feed_item, jetstream, post_view, profile
from tests.fakes_bluesky import delete as unfollow_record
from tests.fakes_bluesky import follow as follow_record
from tests.fakes_mastodon import DOMAIN, FakeMastodon, account, status, verified
from tests.fixtures_archives import linkedin_export, x_archive
from tests.sources_support import serving
from tests.support import Worker, free_port
from tests.test_e2e import scopes_by_name, wait_until_processed

ALICE, BOB = account("1", "alice"), account("2", "bob")
STRANGER = account("9001", "dana@other.social")
WHEN = datetime(2026, 11, 20, tzinfo=UTC)


def mastodon_follower(i: int) -> dict[str, Any]:
    acct = f"f{i}" if i < 150 else f"r{i}@other.social"
    fields = {
        7: [verified("https://bsky.app/profile/did:plc:seven")],
        8: [verified("https://eight.example.org")],
    }.get(i, [])
    return account(str(1000 + i), acct, fields)


def mastodon_instance() -> FakeMastodon:
    return FakeMastodon(
        accounts={"1": ALICE, "2": BOB, "9001": STRANGER},
        followers={
            "1": [mastodon_follower(i) for i in range(120)],
            "2": [mastodon_follower(i) for i in range(100, 160)],
        },
        statuses={
            "1": [
                status(102, ALICE, "<p>we agree</p>", reply_to=(5000, STRANGER)),
                status(101, ALICE, "<p>launch day</p>"),
            ],
            "2": [status(103, BOB, "<p>hello from engineering</p>")],
        },
    )


def bluesky_appview() -> FakeAppView:
    followers = [profile("did:plc:seven"), profile("did:plc:eight", "eight.example.org")]
    followers += [profile(f"did:plc:b{i}") for i in range(30)]
    return FakeAppView(
        followers={"did:plc:alice": followers},
        feeds={"did:plc:alice": [feed_item(post_view("did:plc:alice", "r1", "hi bsky", WHEN))]},
    )


def firehose() -> FakeJetstream:
    now = int(time.time() * 1_000_000)
    return FakeJetstream(
        [
            follow_record("did:plc:live1", now, "k1", "did:plc:alice"),
            follow_record("did:plc:live2", now + 1, "k2", "did:plc:alice"),
            unfollow_record("did:plc:live2", now + 2, "app.bsky.graph.follow", "k2"),
            follow_record("did:plc:other", now + 3, "k3", "did:plc:not-an-employee"),
        ]
    )


@contextlib.contextmanager
def in_background(*servers: AbstractAsyncContextManager[str]) -> Iterator[list[str]]:
    """Serve `servers` from an event loop in a thread of its own (the connectors are processes)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()

    async def start() -> list[str]:
        return [await stack.enter_async_context(server) for server in servers]

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def connect(worker: Worker, network: str, config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "connect", network, "--config", str(config)],
        env={**os.environ, **worker.env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_every_connector_into_clickhouse_gives_the_true_community(
    worker_factory: Any, tmp_path: Path
) -> None:
    x = x_archive(tmp_path / "x")
    # Saved yesterday: ingest refuses events dated more than a day ahead (future_timestamp).
    saved = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    linkedin = linkedin_export(tmp_path / "linkedin", zipped=True, saved=saved)
    roster = [
        {
            "type": "employee",
            "event_id": f"roster-{employee_id}",
            "occurred_at": "2026-11-01T00:00:00Z",
            "employee_id": employee_id,
            "department": department,
            "region": "EMEA",
            "active": True,
            "accounts": [{"network": n, "account_id": a} for n, a in accounts],
        }
        for employee_id, department, accounts in [
            (
                "e1",
                "Sales",
                [
                    ("mastodon", f"alice@{DOMAIN}"),
                    ("bluesky", "did:plc:alice"),
                    ("x", x.account_id),
                    ("linkedin", linkedin.account_id),
                ],
            ),
            ("e2", "Engineering", [("mastodon", f"bob@{DOMAIN}")]),
        ]
    ]
    (tmp_path / "roster.jsonl").write_text("".join(json.dumps(e) + "\n" for e in roster))

    worker: Worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="3")
    warehouse.migrator(worker.settings).migrate()
    worker.start()
    subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", str(tmp_path / "roster.jsonl")],
        env={**os.environ, **worker.env},
        check=True,
        capture_output=True,
    )

    instance, appview, stream = mastodon_instance(), bluesky_appview(), firehose()
    with in_background(serving(instance.app()), serving(appview.app()), jetstream(stream)) as (
        mastodon_url,
        appview_url,
        jetstream_url,
    ):
        instance.base_url = mastodon_url
        config = tmp_path / "connectors.toml"
        config.write_text(
            f"""
[mastodon]
[[mastodon.accounts]]
employee_id = "e1"
acct = "alice@{DOMAIN}"
instance = "{mastodon_url}"
[[mastodon.accounts]]
employee_id = "e2"
acct = "bob@{DOMAIN}"
instance = "{mastodon_url}"

[bluesky]
service = "{appview_url}"
jetstream = "{jetstream_url}"
[[bluesky.accounts]]
employee_id = "e1"
did = "did:plc:alice"

[[x.archives]]
employee_id = "e1"
path = "x/{x.path.name}"

[[linkedin.archives]]
employee_id = "e1"
path = "linkedin/{linkedin.path.name}"
account_id = "{linkedin.account_id}"
"""
        )
        for network in ("mastodon", "bluesky", "x", "linkedin"):
            assert "sent" in connect(worker, network, config)
        # An overlapping second pass sends nothing new.
        assert "sent 0 events (nothing new)" in connect(worker, "mastodon", config)

        metrics_port = free_port()
        follow_live = ["connect", "bluesky", "--live", "--config", str(config)]
        follow_live += ["--metrics-port", str(metrics_port)]
        live = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *follow_live],
            env={**os.environ, **worker.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not stream.connections and time.monotonic() < deadline:
                time.sleep(0.2)
            assert stream.connections, "the live connector never subscribed"
            time.sleep(3)  # the messages are sent at once; a flush is due every second
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                metrics = response.read().decode()
            assert 'chorus_connector_events_total{network="bluesky",type="follow"} 3.0' in metrics
            assert "chorus_connector_firehose_lag_seconds" in metrics
        finally:
            live.send_signal(signal.SIGTERM)
            out, err = live.communicate(timeout=60)
        assert live.returncode == 0, err
        assert "sent 3 events (3 follow)" in out

    wait_until_processed(worker.settings, watched=[worker])

    mastodon = {f"f{i}@{DOMAIN}" if i < 150 else f"r{i}@other.social" for i in range(160)}
    bluesky = {"did:plc:seven", "did:plc:eight", "did:plc:live1"} | {
        f"did:plc:b{i}" for i in range(30)
    }
    accounts = len(mastodon) + len(bluesky) + len(x.followers) + len(linkedin.followers)
    merged = 2  # f7 = did:plc:seven (verified link), f8 = did:plc:eight (shared domain)
    alice_lists = 120 + len(bluesky) + len(x.followers) + len(linkedin.followers)
    expected = {
        "company": (2, alice_lists + 60, accounts, accounts - merged),
        "department:Sales": (1, alice_lists, alice_lists, alice_lists - merged),
        "department:Engineering": (1, 60, 60, 60),
        "region:EMEA": (2, alice_lists + 60, accounts, accounts - merged),
        "network:mastodon": (2, 180, 160, 160),
        "network:bluesky": (1, len(bluesky), len(bluesky), len(bluesky)),
        "network:x": (1, len(x.followers), len(x.followers), len(x.followers)),
        "network:linkedin": (
            1,
            len(linkedin.followers),
            len(linkedin.followers),
            len(linkedin.followers),
        ),
    }
    client = warehouse.client(worker.settings)
    try:
        rows = warehouse.latest_snapshot_rows(client)
        scopes = {
            name: (r.employees, r.naive_reach, r.distinct_accounts, r.distinct_persons)
            for name, r in scopes_by_name(rows).items()
        }
        assert scopes == expected

        posts = 3 + 1 + len(x.posts) + len(linkedin.posts)
        assert client.execute("SELECT count(), uniqExact(post_id) FROM posts FINAL")[0] == (
            posts,
            posts,
        )
        [(reply_to, author)] = client.execute(
            "SELECT in_reply_to, in_reply_to_author FROM posts FINAL "
            f"WHERE post_id = '{DOMAIN}/102'"
        )
        assert reply_to == f"{DOMAIN}/5000"
        assert author.startswith("p") and "dana" not in author  # pseudonymised on ingest
        evidence = client.execute("SELECT evidence FROM identity_links FINAL ORDER BY evidence")
        assert [e.split(":")[0] for (e,) in evidence] == ["shared_domain", "verified_link"]
    finally:
        client.disconnect()
