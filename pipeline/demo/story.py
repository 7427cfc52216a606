"""`make demo`: the whole story on one machine, from nothing to the headline.

Services up, migrations, a worker, a simulated company of 2,500 employees
streamed through Kafka, a wait until every topic is processed, then the
headline from ClickHouse, the alert incidents and the dashboard. The worker is
stopped at the end; the services are left running (`chorus services down`
stops them).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agents.kafka.admin import consumed_topics, declare_topics
from agents.kafka.lag import LagProbe, wait_until_processed
from agents.kafka.producer import produce
from pipeline import warehouse
from pipeline.audience.report import Report
from pipeline.conversation import CONVERSATION_DAYS, headline
from pipeline.services.local import local_services
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.warehouse.conversation import conversation, data_end

DEMO_DIR = PROJECT_ROOT / "artifacts" / "demo"


def run(
    settings: Settings, say: Callable[[str], None], employees: int = 2500, seed: int = 7
) -> Path:
    started = time.monotonic()
    settings = dataclasses.replace(settings, snapshot_seconds=min(settings.snapshot_seconds, 10.0))
    say("1/6 services: the local Kafka broker and ClickHouse server")
    for service in local_services(settings):
        service.up(say)

    say(f"2/6 database: migrations into `{settings.clickhouse_database}`")
    warehouse.migrator(settings).migrate(say)

    say(f"3/6 simulate: a company of {employees:,} employees (seed {seed})")
    simulation = simulate(SimulationConfig(seed=seed, employees=employees))
    lines = list(simulation.lines())
    say(f"    {len(lines):,} events")

    say("4/6 worker: every agent, one process")
    declare_topics(settings)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    log = DEMO_DIR / "worker.log"
    worker = _start_worker(settings, log)
    try:
        say(f"5/6 stream: producing to {settings.topic('raw')} and waiting until all is processed")
        produce(
            settings,
            lines,
            progress=lambda sent: say(f"    sent {sent:,}/{len(lines):,}"),
            every=250_000,
        )
        probe = LagProbe(settings, consumed_topics(settings))
        try:
            wait_until_processed(
                probe, settings.snapshot_seconds, say=say, alive=lambda: worker.poll() is None
            )
        finally:
            probe.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    say("6/6 results (from ClickHouse)")
    client = warehouse.client(settings)
    report = Report.from_rows(warehouse.latest_snapshot_rows(client))
    end = data_end(client.execute)
    talk = conversation(client.execute, end, CONVERSATION_DAYS) if end is not None else {}
    conversation_lines: list[str] = []
    if report.company is not None and "company" in talk:
        conversation_lines = headline(
            talk["company"], report.company.estimated_persons, CONVERSATION_DAYS
        )
    for line in report.lines(conversation_lines):
        say(line)
    for line in _incidents(client):
        say(line)
    from pipeline.dashboard import write_dashboard

    page = write_dashboard(settings, DEMO_DIR / "dashboard.html")
    say(f"dashboard: {page}")
    say(f"worker log: {log}")
    say(
        f"done in {time.monotonic() - started:.0f}s. The services are still running: `chorus services down` stops them."
    )
    return page


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHORUS_SNAPSHOT_SECONDS": str(settings.snapshot_seconds)}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker", "--loglevel", "warn"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _incidents(client: warehouse.Client) -> list[str]:
    from pipeline.warehouse.reads import recent_incidents

    incidents = recent_incidents(client, limit=20)
    if not incidents:
        return ["alert incidents: none"]
    return [f"alert incidents: {len(incidents)}"] + [
        f"  {incident.line()}" for incident in incidents
    ]
