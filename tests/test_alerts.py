"""Alert delivery (webhooks with retries, never blocking), recent incidents, the monitor wiring."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import random
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from click.testing import CliRunner

from agents import notify
from agents.app import create_app
from pipeline.cli.main import cli
from pipeline.settings import Settings, masked_url
from pipeline.slipups.alerts import (
    RetryPolicy,
    WebhookNotifier,
    chat_text,
    parse_webhooks,
    webhook_payload,
)
from pipeline.slipups.idle_clock import IdleClock
from pipeline.slipups.roster import department_and_region, roster_update
from pipeline.slipups.spikes import SpikeDetector
from pipeline.warehouse.reads import recent_incidents
from schemas.events import Employee
from schemas.slipups import Alert, AlertDelivery
from tests.test_spikes import CONFIG, T0, background, burst, feed, slipup


def run_async(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in its own event loop (the project has no pytest-asyncio)."""

    def run() -> None:
        asyncio.run(test())

    run.__name__ = test.__name__
    return run


NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0, timeout=2.0)


def alert(n: int = 1, status: str = "firing") -> Alert:
    return Alert(
        alert_id=f"i{n}:{status}",
        incident_id=f"i{n}",
        status=status,  # type: ignore[arg-type]
        scope_kind="department",
        scope="Sales",
        scopes=("department:Sales", "company:all"),
        window_start=T0,
        window_end=T0 + timedelta(minutes=5),
        count=7,
        baseline=0.04,
        p_value=1e-9,
        opened_at=T0,
        summary=f"[{status.upper()}] slip-up spike in department Sales (+ company)",
    )


class FakeTransport:
    """Answers with the given statuses in turn (an exception instance is raised)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.bodies: list[tuple[str, bytes]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, url: str, body: bytes) -> int:
        await self.release.wait()
        self.bodies.append((url, body))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer


async def deliver(notifier: WebhookNotifier, *alerts: Alert) -> None:
    await notifier.start()
    for item in alerts:
        notifier.enqueue(item)
    await notifier.close(drain_seconds=2.0)


def test_payload_has_a_chat_line_and_every_field() -> None:
    body = json.loads(webhook_payload(alert()))
    assert body["text"] == alert().summary
    assert body["incident_id"] == "i1" and body["status"] == "firing"
    assert body["window_start"] == "2026-01-05T00:00:00Z"
    assert body["scopes"] == ["department:Sales", "company:all"]
    assert set(Alert.__struct_fields__) <= set(body)


def test_parse_webhooks() -> None:
    assert parse_webhooks(" https://hooks.example/a , http://127.0.0.1:8080/b,") == [
        "https://hooks.example/a",
        "http://127.0.0.1:8080/b",
    ]
    assert parse_webhooks("") == []
    with pytest.raises(ValueError):
        parse_webhooks("ftp://nope")


def test_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.delay(attempt, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


@run_async
async def test_retries_until_success_and_records_every_outcome() -> None:
    outcomes: list[AlertDelivery] = []
    transport = FakeTransport(503, aiohttp.ClientConnectionError("refused"), 200)
    notifier = WebhookNotifier(["http://a"], outcomes.append, retry=NO_WAIT, transport=transport)
    await deliver(notifier, alert())
    assert [(o.ok, o.attempts, o.status) for o in outcomes] == [(True, 3, 200)]


@run_async
async def test_permanent_errors_and_exhausted_retries_are_failures() -> None:
    outcomes: list[AlertDelivery] = []
    transport = FakeTransport(400, 500, 500, 500)
    notifier = WebhookNotifier(["http://a"], outcomes.append, retry=NO_WAIT, transport=transport)
    await deliver(notifier, alert(1), alert(2))
    assert [(o.alert_id, o.ok, o.attempts, o.error) for o in outcomes] == [
        ("i1:firing", False, 1, "HTTP 400"),  # not retryable
        ("i2:firing", False, 3, "HTTP 500"),
    ]


@run_async
async def test_enqueue_never_blocks_and_a_full_queue_gives_up_the_oldest() -> None:
    outcomes: list[AlertDelivery] = []
    transport = FakeTransport()
    transport.release.clear()  # the endpoint hangs
    notifier = WebhookNotifier(
        ["http://a", "http://b"],
        outcomes.append,
        queue_size=2,
        retry=NO_WAIT,
        transport=transport,
    )
    await notifier.start()
    notifier.enqueue(alert(1))
    await asyncio.sleep(0.01)  # each URL's worker takes alert 1 and hangs on it
    for n in (2, 3, 4):
        notifier.enqueue(alert(n))  # returns at once although nothing is delivered
    assert [(o.alert_id, o.ok, o.attempts) for o in outcomes] == [
        ("i2:firing", False, 0),
        ("i2:firing", False, 0),
    ]
    assert {o.url for o in outcomes} == {masked_url("http://a"), masked_url("http://b")}
    transport.release.set()
    await notifier.close(drain_seconds=2.0)
    delivered = sorted((o.url, o.alert_id) for o in outcomes if o.ok)
    assert delivered == sorted(
        (masked_url(url), f"i{n}:firing") for url in ("http://a", "http://b") for n in (1, 3, 4)
    )


@run_async
async def test_the_same_alert_is_sent_once() -> None:
    outcomes: list[AlertDelivery] = []
    notifier = WebhookNotifier(["http://a"], outcomes.append, transport=FakeTransport())
    await deliver(notifier, alert(1), alert(1), alert(1, "resolved"), alert(1))
    assert [o.alert_id for o in outcomes] == ["i1:firing", "i1:resolved"]


@run_async
async def test_close_gives_up_what_is_left() -> None:
    outcomes: list[AlertDelivery] = []
    transport = FakeTransport()
    transport.release.clear()
    notifier = WebhookNotifier(["http://a"], outcomes.append, retry=NO_WAIT, transport=transport)
    await notifier.start()
    notifier.enqueue(alert(1))
    notifier.enqueue(alert(2))
    await notifier.close(drain_seconds=0.05)
    assert sorted((o.alert_id, o.ok) for o in outcomes) == [
        ("i1:firing", False),
        ("i2:firing", False),
    ]
    assert notifier.pending() == 0


@run_async
async def test_real_http_on_loopback() -> None:
    received: list[dict[str, Any]] = []
    answers = [503, 200]

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=answers.pop(0))

    server = web.Application()
    server.router.add_post("/hook", hook)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        outcomes: list[AlertDelivery] = []
        url = f"http://127.0.0.1:{port}/hook"
        notifier = WebhookNotifier([url], outcomes.append, retry=NO_WAIT)
        await deliver(notifier, alert())
        assert [(o.ok, o.attempts, o.status) for o in outcomes] == [(True, 2, 200)]
        assert received[-1]["text"].startswith("[FIRING]") and received[-1]["count"] == 7
    finally:
        await runner.cleanup()


# --- secrets and chat markup ----------------------------------------------------------------

TOKEN = "XoXb7Secret0Token"
SLACK = f"https://hooks.slack.com/services/T0001/B0001/{TOKEN}"
TEAMS = f"https://acme.webhook.office.com/webhookb2/g@t/IncomingWebhook/c/o?sig={TOKEN}2"


def test_a_masked_url_keeps_scheme_and_host_and_tells_webhooks_apart() -> None:
    masked = masked_url(SLACK)
    assert masked.startswith("https://hooks.slack.com/…#") and TOKEN not in masked
    assert masked == masked_url(SLACK)  # stable: one webhook, one name in logs and rows
    assert masked_url(SLACK + "x") != masked
    assert masked_url("https://user:pw@example.com:8443/p?q").startswith(
        "https://example.com:8443/…#"
    )
    assert masked_url("http://[::1/broken").startswith("…#")


def agent_outcome_hook(
    monkeypatch: pytest.MonkeyPatch, urls: str
) -> Callable[[AlertDelivery], None]:
    """The hook through which the monitor-notify agent logs and stores each delivery outcome."""
    hooks: list[Callable[[AlertDelivery], None]] = []

    class Captured(Exception):
        pass

    class Spy:
        def __init__(self, _: list[str], on_outcome: Callable[[AlertDelivery], None]) -> None:
            hooks.append(on_outcome)

        async def start(self) -> None:
            raise Captured

    monkeypatch.setattr(notify, "WebhookNotifier", Spy)
    app, _ = create_app(Settings(agents="monitor", alert_webhooks=urls))
    with pytest.raises(Captured):
        asyncio.run(app.agents["monitor-notify"].fun(None))  # type: ignore[arg-type]
    return hooks[0]


def test_a_webhook_token_is_in_no_log_no_delivery_record_no_config(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = agent_outcome_hook(monkeypatch, f"{SLACK},{TEAMS}")
    outcomes: list[AlertDelivery] = []

    def record(outcome: AlertDelivery) -> None:
        outcomes.append(outcome)
        hook(outcome)

    # Slack delivers at the second attempt; Teams fails for good, its errors quoting the URL.
    answers = {
        SLACK: FakeTransport(503, 200),
        TEAMS: FakeTransport(*[aiohttp.InvalidURL(TEAMS)] * NO_WAIT.max_attempts),
    }
    posted: list[str] = []

    async def post(url: str, body: bytes) -> int:
        posted.append(url)
        return await answers[url](url, body)

    notifier = WebhookNotifier([SLACK, TEAMS], record, retry=NO_WAIT, transport=post)
    with caplog.at_level(logging.DEBUG):
        asyncio.run(deliver(notifier, alert()))
    assert set(posted) == {SLACK, TEAMS}  # the real URLs are what is posted to
    assert sorted((o.url, o.ok, o.error) for o in outcomes) == sorted(
        [
            (masked_url(SLACK), True, ""),
            (masked_url(TEAMS), False, f"InvalidURL: {masked_url(TEAMS)}"),
        ]
    )
    assert any(masked_url(SLACK) in r.getMessage() for r in caplog.records)
    assert any(masked_url(TEAMS) in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    stored = "\n".join(msgspec.json.encode(o).decode() for o in outcomes)
    config = CliRunner().invoke(cli, ["config"], env={"CHORUS_ALERT_WEBHOOKS": f"{SLACK},{TEAMS}"})
    assert config.exit_code == 0 and masked_url(TEAMS) in config.output
    for text in (logged, stored, config.output):
        assert TOKEN not in text and "T0001" not in text and "sig=" not in text


HOSTILE_NAMES = ['<a href="https://evil">x</a>', "<!channel>", "<@U123> & <http://x|y>"]


@pytest.mark.parametrize("department", HOSTILE_NAMES)
def test_a_department_name_is_text_in_the_chat_line(department: str) -> None:
    detector = SpikeDetector(CONFIG)
    quiet = [slipup(1000 + i, T0 + timedelta(hours=2 * i, seconds=7), department) for i in range(3)]
    start = T0 + timedelta(hours=6, minutes=1)
    loud = [slipup(i, start + timedelta(seconds=20 * i), department) for i in range(8)]
    [firing] = [a for a in feed(detector, quiet + loud) if a.scope == department]
    body = json.loads(webhook_payload(firing))
    text = body["text"]
    assert "<" not in text and ">" not in text
    assert html.escape(department, quote=False) in text
    assert html.unescape(text) == firing.summary
    assert body["scope"] == department  # the fields for programs keep the data as it is
    assert body["scopes"] == [f"department:{department}", "company:all"]


def test_chat_text_neither_links_nor_breaks_lines() -> None:
    assert chat_text("in [x](https://evil) and ![i](https://evil/p.png)") == (
        "in [x]\\(https://evil) and ![i]\\(https://evil/p.png)"
    )
    assert chat_text("a\n[r]: https://evil\r\n# big") == "a [r]: https://evil # big"
    assert chat_text(alert().summary) == alert().summary  # Chorus's own wording is unchanged


@pytest.mark.clickhouse
def test_recent_incidents(clickhouse: Any) -> None:
    clickhouse.execute(
        """CREATE TABLE alerts (
            alert_id String, incident_id String, status Enum8('firing' = 1, 'resolved' = 2),
            scope_kind String, scope String, scopes Array(String), window_start DateTime('UTC'),
            window_end DateTime('UTC'), count UInt32, baseline Float64, p_value Float64,
            opened_at DateTime('UTC'), summary String
        ) ENGINE = ReplacingMergeTree() ORDER BY (incident_id, alert_id)"""
    )
    detector = SpikeDetector(CONFIG)
    alerts = [a for s in background(6) for a in detector.observe(s)]
    for start in (T0 + timedelta(hours=6), T0 + timedelta(hours=9)):
        alerts += [
            a for s in burst(start, 6, first=int(start.timestamp())) for a in detector.observe(s)
        ]
    alerts += detector.advance(T0 + timedelta(hours=7))  # resolves the first incident only
    rows = [msgspec.structs.asdict(a) for a in alerts]
    clickhouse.execute("INSERT INTO alerts VALUES", rows + rows[:1])  # a replayed row too
    incidents = recent_incidents(clickhouse, limit=10)
    assert len(incidents) == 2  # one per burst, each grouping the department and the company
    assert [i.status for i in incidents] == ["firing", "resolved"]
    assert incidents[0].opened_at == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert incidents[0].resolved_at is None and incidents[-1].resolved_at is not None
    assert all(i.count >= 3 and i.summary.startswith("[FIRING]") for i in incidents)
    assert all(i.scopes == ("department:Sales", "company:all") for i in incidents)
    assert len(recent_incidents(clickhouse, limit=1)) == 1
    listed = CliRunner().invoke(
        cli,
        ["alerts", "list", "--limit", "2"],
        env={"CHORUS_CLICKHOUSE_DATABASE": clickhouse.connection.database},
    )
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("firing ") and "resolved open" in lines[0]
    assert "department=Sales" in lines[0] and lines[0].endswith("department:Sales company:all")
    assert "opened 2026-01-05 09:00 UTC" in lines[0] and "resolved 2026-01-05" in lines[1]


# --- the monitor's agents ------------------------------------------------------------------


def employee(department: str, at: datetime) -> Employee:
    return Employee(
        event_id=f"emp-{at.isoformat()}",
        occurred_at=at,
        employee_id="e1",
        department=department,
        region="emea",
        active=True,
    )


def test_roster_keeps_the_latest_entry() -> None:
    first = roster_update(None, employee("Sales", T0))
    assert first is not None
    newer = roster_update(first, employee("Legal", T0 + timedelta(days=1)))
    assert newer is not None and department_and_region(newer) == ("Legal", "emea")
    assert roster_update(newer, employee("Sales", T0)) is None  # an old event, replayed
    assert department_and_region(None) == ("", "")


def test_idle_clock_resolves_incidents_without_new_slipups() -> None:
    detector = SpikeDetector(CONFIG)
    now = [1000.0]
    clock = IdleClock(detector, clock=lambda: now[0])
    assert clock.tick() == []
    for s in background(6) + burst(T0 + timedelta(hours=6), 6):
        detector.observe(s)
    clock.observed()
    assert detector.open_incidents()
    now[0] += 3600  # an hour later, no slip-up since
    resolved = clock.tick()
    assert {a.status for a in resolved} == {"resolved"} and not detector.open_incidents()


def test_the_app_wires_the_monitor() -> None:
    app, _ = create_app(Settings(alert_webhooks="http://127.0.0.1:9/hook"))
    assert {"monitor-roster", "monitor-scan", "monitor-spikes", "monitor-notify"} <= set(app.agents)
    assert "roster" in app.tables


def test_a_worker_runs_only_the_agents_it_is_told_to() -> None:
    app, _ = create_app(Settings(agents="ingest"))
    assert set(app.agents) == {"ingest"}
