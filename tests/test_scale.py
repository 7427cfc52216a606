"""Scaling out and restarting: two workers give the numbers of one, and a restarted worker resumes its state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline import warehouse
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from tests.support import Worker
from tests.test_e2e import check_against_truth, wait_until_processed


def company(tmp_path: Path, seed: int) -> tuple[list[bytes], dict[str, Any]]:
    simulation = simulate(SimulationConfig(seed=seed, employees=100, days=30))
    return list(simulation.lines()), json.loads(json.dumps(simulation.truth))


def ingest(worker: Worker, lines: list[bytes], path: Path) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", str(path)],
        env={**os.environ, **worker.env},
        check=True,
        capture_output=True,
    )


def raw_records_read(worker: Worker) -> float:
    """What this worker's ingest agent consumed, from its /metrics."""
    port = worker.env["CHORUS_WORKER_PORT"]
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    pattern = (
        rf'chorus_records_in_total{{topic="{re.escape(worker.settings.topic("raw"))}"}} ([0-9.e+]+)'
    )
    match = re.search(pattern, body)
    return float(match.group(1)) if match else 0.0


@pytest.mark.e2e
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_two_workers_on_four_partitions_give_the_numbers_of_one(
    worker_factory: Any, tmp_path: Path
) -> None:
    lines, truth = company(tmp_path, seed=21)
    first: Worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="3", CHORUS_PARTITIONS="4")
    second: Worker = worker_factory(
        CHORUS_SNAPSHOT_SECONDS="3",
        CHORUS_PARTITIONS="4",
        **{
            key: first.env[key]
            for key in ("CHORUS_TOPIC_PREFIX", "CHORUS_APP_ID", "CHORUS_CLICKHOUSE_DATABASE")
        },
    )
    warehouse.migrator(first.settings).migrate()
    first.start()
    second.start()
    ingest(first, lines, tmp_path / "company.jsonl")
    wait_until_processed(first.settings)
    # Both took a share of chorus.raw, and the result is the one-worker truth.
    assert raw_records_read(first) > 0 and raw_records_read(second) > 0
    assert raw_records_read(first) + raw_records_read(second) >= len(lines)
    check_against_truth(first.settings, truth)


@pytest.mark.e2e
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_a_restarted_worker_resumes_with_the_same_state(
    worker_factory: Any, tmp_path: Path
) -> None:
    """Restarted in the middle of an incident: the graph is rebuilt, the incident stays open.

    Seed 24's spike fires in the 11:25 window and resolves at 11:55; the worker
    stops at 11:37, between the two, and a new process must neither fire it
    again nor forget to resolve it.
    """
    lines, truth = company(tmp_path, seed=24)
    restart_at = datetime.fromisoformat(truth["spikes"][0]["start"]) + timedelta(minutes=22)
    half = next(
        i
        for i, line in enumerate(lines)
        if i > 0 and datetime.fromisoformat(json.loads(line)["occurred_at"]) >= restart_at
    )
    worker: Worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="3")
    warehouse.migrator(worker.settings).migrate()
    worker.start()
    ingest(worker, lines[:half], tmp_path / "first-half.jsonl")
    wait_until_processed(worker.settings)
    worker.kill(signal.SIGTERM)
    # A new process: the graph is rebuilt from the kept topics, then the rest streams in.
    worker.start()
    ingest(worker, lines[half:], tmp_path / "second-half.jsonl")
    wait_until_processed(worker.settings)
    check_against_truth(worker.settings, truth)
    log = worker.log.read_text()
    assert log.count("audience graph rebuilt") >= 2
    restored = re.findall(r"spike detector restored from (\d+) slip-ups", log)
    assert restored and int(restored[-1]) > 0
