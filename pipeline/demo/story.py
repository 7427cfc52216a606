"""`make demo`: the whole story on one machine, from nothing to the headline.

Services up, migrations, a worker, a simulated company of 2,500 employees
streamed through Kafka, a wait until every topic is processed; then the
communications team: a reviewer account for the workspace (its password
printed once) and the simulated reviewers' verdicts on the flags and spot
checks, through chorus.review_actions like the workspace's own; then the
headline from ClickHouse, the policy's precision and recall, the alert
incidents and the dashboard. The worker is stopped at the end; the services
are left running (`chorus services down` stops them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

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
from schemas.review import ReviewAction

DEMO_DIR = PROJECT_ROOT / "artifacts" / "demo"
DEMO_REVIEWER = "reviewer"


def run(
    settings: Settings, say: Callable[[str], None], employees: int = 2500, seed: int = 7
) -> Path:
    started = time.monotonic()
    settings = dataclasses.replace(settings, snapshot_seconds=min(settings.snapshot_seconds, 10.0))
    say("1/7 services: the local Kafka broker and ClickHouse server")
    for service in local_services(settings):
        service.up(say)

    say(f"2/7 database: migrations into `{settings.clickhouse_database}`")
    warehouse.migrator(settings).migrate(say)

    say(f"3/7 simulate: a company of {employees:,} employees (seed {seed})")
    simulation = simulate(SimulationConfig(seed=seed, employees=employees))
    lines = list(simulation.lines())
    say(f"    {len(lines):,} events")

    say("4/7 worker: every agent, one process")
    declare_topics(settings)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    log = DEMO_DIR / "worker.log"
    worker = _start_worker(settings, log)
    try:
        say(f"5/7 stream: producing to {settings.topic('raw')} and waiting until all is processed")
        produce(
            settings,
            lines,
            progress=lambda sent: say(f"    sent {sent:,}/{len(lines):,}"),
            every=250_000,
        )
        _wait(settings, say, worker)
        say("6/7 review: the communications team's simulated reviewers act on the flags")
        say(_reviewer_account(settings))
        verdicts = _simulated_verdicts(settings, simulation.truth, seed)
        say(f"    {len(verdicts):,} review actions sent to {settings.topic('review_actions')}")
        _wait(settings, say, worker)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    say("7/7 results (from ClickHouse)")
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
    say(_policy_quality(client, simulation.truth))
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


def _wait(settings: Settings, say: Callable[[str], None], worker: subprocess.Popen[bytes]) -> None:
    probe = LagProbe(settings, consumed_topics(settings))
    try:
        wait_until_processed(
            probe, settings.snapshot_seconds, say=say, alive=lambda: worker.poll() is None
        )
    finally:
        probe.close()


def _reviewer_account(settings: Settings) -> str:
    from pipeline.workspace.users import Users, generated_password

    users = Users(settings.users_path)
    if users.get(DEMO_REVIEWER) is not None:
        return (
            f"    workspace: the reviewer account {DEMO_REVIEWER!r} exists ({settings.users_path})"
        )
    password = generated_password()
    users.add(DEMO_REVIEWER, "reviewer", password)
    return (
        f"    workspace: reviewer account {DEMO_REVIEWER!r}, password {password} "
        "(shown once; `chorus users passwd reviewer` sets another); `chorus workspace` serves it"
    )


def _simulated_verdicts(settings: Settings, truth: dict[str, Any], seed: int) -> list[ReviewAction]:
    """The simulated team's actions on the flags and spot checks ClickHouse holds, sent to Kafka."""
    from agents.kafka.review import KafkaReviewLog
    from pipeline.review.simulated import FlagRow, SpotCheck, simulated_reviews
    from pipeline.warehouse import review as reads

    client = warehouse.client(settings)
    try:
        flags = [
            FlagRow(flag_id, post_id, employee_id, rule, category, at.replace(tzinfo=UTC))
            for flag_id, post_id, employee_id, rule, category, at in client.execute(
                "SELECT slipup_id, post_id, employee_id, rule, category, occurred_at "
                "FROM slipups FINAL"
            )
        ]
        spots = [
            SpotCheck(item.flag.post_id, item.flag.employee_id, item.occurred_at)
            for item in reads.queue(
                client.execute,
                reads.Filters(kind="spot_check", status=""),
                settings.spot_check_share,
                limit=1_000_000,
            )
        ]
    finally:
        client.disconnect()
    actions = simulated_reviews(flags, spots, truth, seed=seed)

    async def send() -> None:
        log = KafkaReviewLog(settings)
        await log.start()
        try:
            for start in range(0, len(actions), 1000):
                await log.append(actions[start : start + 1000])
        finally:
            await log.stop()

    asyncio.run(send())
    return actions


def _policy_quality(client: warehouse.Client, truth: dict[str, Any]) -> str:
    from pipeline.warehouse.review import policy_counts, quality

    found = quality(policy_counts(client.execute))
    if found.recall is None:
        return (
            f"policy, from the reviewers' verdicts: precision {found.precision or 'not reviewed'}"
        )
    real = [truth["review"][key] for key in ("precision", "recall")]
    precision, recall = ("–" if value is None else f"{value:.1%}" for value in real)
    return (
        f"policy, from the reviewers' verdicts: flagged posts that are slip-ups "
        f"{found.recall.precision}, estimated recall {found.recall}, missed "
        f"{found.recall.missed} unflagged posts (the simulation's truth: {precision} and {recall})"
    )
