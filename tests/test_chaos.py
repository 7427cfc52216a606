"""Faults while a simulated company streams through: nothing lost, nothing counted twice.

Each test streams a simulated company into chorus.raw from a background thread
(`tests.support.Stream`), breaks one thing mid-stream (the worker, ClickHouse,
the broker, the alert webhooks), repairs it, waits until everything is
processed and checks the warehouse against the simulator's ground truth
(`check_against_truth`, the end-to-end test's). Each prints, and asserts, the
figures of its fault: events sent, events found, copies in the raw tables
(replays that ReplacingMergeTree has not merged yet; FINAL and the analyst
views must show none) and the recovery time: from the repair until new events
land in ClickHouse again.

The shared services (`chorus services up`) are never stopped: a fault on a
server runs on a private one (`tests.support.private_kafka`, `private_clickhouse`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clickhouse_driver import Client

from agents.kafka.lag import LagProbe
from pipeline import warehouse
from pipeline.settings import Settings, masked_url
from tests.support import (
    Company,
    Stream,
    WebhookReceiver,
    Worker,
    private_clickhouse,
    private_kafka,
    topic_counts,
    wait_for,
)
from tests.test_e2e import TABLE_OF_TYPE, check_against_truth, wait_until_processed

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.clickhouse]

# Where the sinks' rows come from: the typed topics of the event tables.
EVENT_TOPICS = ("employees", "posts", "follows", "identity", "engagement", "account_stats")


@dataclass
class Figures:
    """What a fault test prints and asserts."""

    fault: str
    sent: int = 0
    expected: int = 0  # valid events of the company (the truth)
    found: int = 0  # distinct event ids in the event tables
    raw_rows: int = 0  # rows of the event tables, copies not merged yet included
    final_duplicates: int = 0  # rows read with FINAL minus distinct ids
    views: dict[str, tuple[int, int]] = field(default_factory=dict)  # view: (got, expected)
    recoveries: list[float] = field(default_factory=list)  # seconds, one per fault

    def line(self) -> str:
        views = ", ".join(f"{name} {got:,}/{want:,}" for name, (got, want) in self.views.items())
        recoveries = ", ".join(f"{seconds:.1f} s" for seconds in self.recoveries)
        return (
            f"[chaos] {self.fault}: events sent {self.sent:,}; valid events {self.expected:,}, "
            f"found {self.found:,}; raw rows {self.raw_rows:,} "
            f"({self.raw_rows - self.found:,} replayed copies awaiting merge); "
            f"duplicates in FINAL {self.final_duplicates}; analyst views {views}; "
            f"recovery {recoveries}"
        )


def measure(settings: Settings, company: Company, sent: int, figures: Figures) -> None:
    """Fill `figures` from the warehouse, print them, assert nothing is lost or counted twice."""
    by_type = company.truth["events"]["by_type"]
    client = warehouse.client(settings)
    try:
        for table in TABLE_OF_TYPE.values():
            rows, distinct = client.execute(f"SELECT count(), uniqExact(event_id) FROM {table}")[0]
            (final_rows,) = client.execute(f"SELECT count() FROM {table} FINAL")[0]
            figures.raw_rows += rows
            figures.found += distinct
            figures.final_duplicates += final_rows - distinct
        figures.views = {
            "daily_activity.posts": (_sum(client, "daily_activity", "posts"), by_type["post"]),
            "daily_activity.engagements": (
                _sum(client, "daily_activity", "engagements"),
                by_type["engagement"],
            ),
            "engagement_per_post.engagements": (
                _sum(client, "engagement_per_post", "engagements"),
                by_type["engagement"],
            ),
            "slipup_rate_weekly.posts": (
                _sum(client, "slipup_rate_weekly", "posts"),
                by_type["post"],
            ),
        }
    finally:
        client.disconnect()
    figures.sent, figures.expected = sent, company.valid
    print(f"\n{figures.line()}")
    assert sent == len(company.lines)
    assert figures.found == figures.expected
    assert figures.final_duplicates == 0
    assert all(got == want for got, want in figures.views.values()), figures.views


def _sum(client: Client, view: str, column: str) -> int:
    return int(client.execute(f"SELECT sum({column}) FROM {view}")[0][0])


def events_landed(settings: Settings) -> int | None:
    """Distinct events in the event tables now; None while ClickHouse does not answer."""
    client = warehouse.client(settings, connect_timeout=2, send_receive_timeout=10)
    try:
        return sum(
            int(client.execute(f"SELECT uniqExact(event_id) FROM {table}")[0][0])
            for table in TABLE_OF_TYPE.values()
        )
    except warehouse.TRANSIENT_ERRORS:
        return None
    finally:
        client.disconnect()


def wait_until_writing(settings: Settings, before: int | None, timeout: float = 180) -> None:
    """Until events beyond `before` land in ClickHouse (or none are left to write)."""
    probe = LagProbe(settings, [settings.topic(name) for name in EVENT_TOPICS])
    try:

        def writing() -> bool:
            now = events_landed(settings)
            if now is None:
                return False
            return (before is not None and now > before) or sum(probe.lag().values()) == 0

        wait_for(writing, timeout, "new events in ClickHouse after the repair")
    finally:
        probe.close()


def wait_until_read(settings: Settings, total: int, share: float, timeout: float = 300) -> None:
    """Until the worker has read (committed) `share` of the `total` lines of chorus.raw."""
    raw = settings.topic("raw")
    probe = LagProbe(settings, [raw])
    try:

        def read() -> int:
            return topic_counts(settings.bootstrap_servers, [raw])[raw] - probe.lag()[raw]

        wait_for(lambda: read() >= share * total, timeout, f"{share:.0%} of chorus.raw read")
    finally:
        probe.close()


def settle(worker: Worker, company: Company, stream: Stream, figures: Figures) -> None:
    """After the fault: the rest of the stream sent and processed, then checked against the truth."""
    sent = stream.join()
    wait_until_processed(worker.settings, watched=[worker])
    measure(worker.settings, company, sent, figures)
    check_against_truth(worker.settings, company.truth)


def start_pipeline(worker: Worker) -> None:
    warehouse.migrator(worker.settings).migrate()
    worker.start()


def test_a_worker_killed_three_times_mid_stream_ends_with_every_event_exactly_once(
    worker_factory: Callable[..., Worker],
) -> None:
    company = Company.simulate(employees=400, seed=8)  # 225,993 lines
    kills = (0.25, 0.5, 0.75)
    # The spike detector's windows live in memory (agents/monitor.py, known
    # limit): a crash during the incident is not what this test is about.
    spike = company.spike_position()
    assert all(abs(spike - kill) > 0.1 for kill in kills), spike
    worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="3")
    start_pipeline(worker)
    figures = Figures(f"worker SIGKILLed at {', '.join(f'{k:.0%}' for k in kills)} of the stream")
    stream = Stream(worker.settings, company.lines, per_second=4000).start()
    for kill in kills:
        wait_until_read(worker.settings, len(company.lines), kill)
        worker.kill(signal.SIGKILL)
        before = events_landed(worker.settings)
        restarted = time.monotonic()
        worker.start()
        wait_until_writing(worker.settings, before)
        figures.recoveries.append(time.monotonic() - restarted)
    settle(worker, company, stream, figures)
    warehouse.drop_database(worker.settings)


def test_clickhouse_stopped_for_30_seconds_mid_stream_loses_nothing(
    worker_factory: Callable[..., Worker], tmp_path: Path
) -> None:
    company = Company.simulate(employees=100, seed=3)  # 48,154 lines
    server = private_clickhouse(tmp_path)
    server.up(print)
    try:
        worker = worker_factory(
            CHORUS_SNAPSHOT_SECONDS="3", CHORUS_CLICKHOUSE_PORT=str(server.settings.clickhouse_port)
        )
        start_pipeline(worker)
        figures = Figures("ClickHouse stopped for 30 s mid-stream")
        stream = Stream(worker.settings, company.lines, per_second=2000).start()
        wait_until_read(worker.settings, len(company.lines), 0.3)
        before = events_landed(worker.settings)
        server.down(print)
        time.sleep(30)
        restarted = time.monotonic()
        server.up(print)
        wait_until_writing(worker.settings, before)
        figures.recoveries.append(time.monotonic() - restarted)
        settle(worker, company, stream, figures)
        worker.kill()
    finally:
        server.down(print)


def test_the_broker_restarted_mid_stream_loses_nothing(
    worker_factory: Callable[..., Worker], tmp_path: Path
) -> None:
    company = Company.simulate(employees=100, seed=7)  # 55,731 lines
    broker = private_kafka(tmp_path)
    broker.up(print)
    try:
        worker = worker_factory(
            CHORUS_SNAPSHOT_SECONDS="3",
            CHORUS_KAFKA_BOOTSTRAP=broker.endpoint,
            CHORUS_KAFKA_PORT=str(broker.settings.kafka_port),
        )
        start_pipeline(worker)
        figures = Figures("Kafka broker stopped and started again mid-stream")
        stream = Stream(worker.settings, company.lines, per_second=2000).start()
        wait_until_read(worker.settings, len(company.lines), 0.3)
        broker.down(print)
        # What the sinks had fetched is written by now; new rows need the broker.
        before = events_landed(worker.settings)
        restarted = time.monotonic()
        broker.up(print)
        wait_until_writing(worker.settings, before)
        figures.recoveries.append(time.monotonic() - restarted)
        settle(worker, company, stream, figures)
        worker.kill()
        warehouse.drop_database(worker.settings)
    finally:
        broker.down(print)


def test_alerts_to_a_webhook_that_is_down_are_reported_failed_and_stall_nothing(
    worker_factory: Callable[..., Worker],
) -> None:
    """Every delivery outcome lands in ClickHouse (`alert_deliveries`): failures are recorded."""
    company = Company.simulate(employees=60, seed=11)  # 30,473 lines
    down = WebhookReceiver()  # never started: down for the whole run
    late = WebhookReceiver()  # comes back once the first alert has been tried
    worker = worker_factory(
        CHORUS_SNAPSHOT_SECONDS="3", CHORUS_ALERT_WEBHOOKS=f"{down.url},{late.url}"
    )
    start_pipeline(worker)
    figures = Figures("alert webhooks down: one for the whole run, one back after the first alert")
    stream = Stream(worker.settings, company.lines, per_second=4000).start()

    def failed_deliveries() -> dict[str, tuple[int, str]]:
        """alert id -> (attempts, last error) of the deliveries to `down` that failed for good."""
        client = warehouse.client(worker.settings)
        try:
            rows = client.execute(
                "SELECT alert_id, max(attempts), any(error) FROM alert_deliveries "
                "WHERE url = %(url)s AND NOT ok GROUP BY alert_id",
                {"url": masked_url(down.url)},
            )
        finally:
            client.disconnect()
        return {alert: (int(attempts), error) for alert, attempts, error in rows}

    try:
        wait_for(lambda: bool(stored_alert_ids(worker.settings)), 300, "a first alert")
        time.sleep(2)  # its first attempts have failed by now; the retries go on for ~15-30 s
        late.start()
        back = time.monotonic()
        wait_for(lambda: bool(late.bodies), 60, "the retried alert at the webhook that came back")
        figures.recoveries.append(time.monotonic() - back)
        sent = stream.join()
        wait_until_processed(worker.settings, watched=[worker])
        alert_ids = stored_alert_ids(worker.settings)
        wait_for(
            lambda: {body["alert_id"] for body in late.bodies} == alert_ids,
            120,
            "every alert at the webhook that came back",
        )
        # Six attempts with backoff take up to ~31 s (pipeline.slipups.alerts.RetryPolicy).
        wait_for(
            lambda: set(failed_deliveries()) == alert_ids,
            120,
            "every failed delivery in ClickHouse",
        )
    finally:
        late.stop()
    measure(worker.settings, company, sent, figures)
    check_against_truth(worker.settings, company.truth)
    failures = failed_deliveries()
    print(f"[chaos] {len(alert_ids)} alerts, each reported failed for {down.url}:")
    for alert_id, (attempts, error) in sorted(failures.items()):
        print(f"[chaos]   {alert_id}: {attempts} attempts, {error}")
    assert all(attempts == 6 for attempts, _ in failures.values()), failures
    assert len(late.bodies) == len(alert_ids)  # each delivered once to the one that came back
    warehouse.drop_database(worker.settings)


def stored_alert_ids(settings: Settings) -> set[str]:
    client = warehouse.client(settings)
    try:
        return {alert_id for (alert_id,) in client.execute("SELECT DISTINCT alert_id FROM alerts")}
    finally:
        client.disconnect()
