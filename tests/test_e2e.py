"""The whole pipeline on the real broker and server, checked against the simulator's ground truth."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agents.kafka.admin import consumed_topics
from agents.kafka.lag import LagProbe
from agents.kafka.lag import wait_until_processed as processed
from pipeline import warehouse
from pipeline.settings import Settings
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.texts import INVALID_KINDS
from pipeline.warehouse.conversation import conversation
from schemas.metrics import CampaignReach, ScopeMetrics
from tests.support import Worker

TABLE_OF_TYPE = {
    "employee": "employees",
    "post": "posts",
    "follow": "follows",
    "identity_link": "identity_links",
    "engagement": "engagements",
    "account_stats": "account_stats",
}


def wait_until_processed(
    settings: Settings, timeout: float = 300, watched: Sequence[Worker] = ()
) -> None:
    """Until every topic is processed; at once if a watched worker died, not at the timeout."""
    probe = LagProbe(settings, consumed_topics(settings))
    try:
        processed(
            probe,
            settings.snapshot_seconds,
            timeout,
            alive=lambda: all(worker.running() for worker in watched),
        )
    finally:
        probe.close()


def scopes_by_name(rows: list[Any]) -> dict[str, ScopeMetrics]:
    """A snapshot's scope rows by the simulator's names: "company", "department:Sales"..."""
    return {
        ("company" if r.scope_kind == "company" else f"{r.scope_kind}:{r.scope}"): r
        for r in rows
        if isinstance(r, ScopeMetrics)
    }


def check_conversation(client: Any, truth: dict[str, Any]) -> None:
    """Every conversation metric of every scope and window equals the simulator's truth."""
    end = datetime.fromisoformat(truth["until"].replace("Z", "+00:00"))
    for window, expected_scopes in truth["conversation"].items():
        got = conversation(client.execute, end, int(window.removesuffix("d")))
        listed = {name: c for name, c in got.items() if not name.startswith("employee:")}
        assert set(listed) == set(expected_scopes), window
        for name, expected in expected_scopes.items():
            figures = {field: getattr(listed[name], field) for field in expected}
            assert figures == expected, (window, name)


def check_against_truth(settings: Settings, truth: dict[str, Any]) -> None:
    client = warehouse.client(settings)
    try:
        # Every valid event exactly once, duplicates and replays collapsed.
        for kind, table in TABLE_OF_TYPE.items():
            rows, distinct = client.execute(
                f"SELECT count(), uniqExact(event_id) FROM {table} FINAL"
            )[0]
            assert rows == distinct == truth["events"]["by_type"].get(kind, 0), table
        (posts_in_view,) = client.execute("SELECT count() FROM engagement_per_post")[0]
        assert posts_in_view == truth["events"]["by_type"]["post"]

        # Every invalid line in the dead letters, with the reason the simulator meant.
        reasons: collections.Counter[str] = collections.Counter()
        for kind, count in truth["events"]["invalid_by_kind"].items():
            reasons[INVALID_KINDS[kind]] += count
        stored = dict(
            client.execute(
                "SELECT reason, uniqExact(offset, partition) FROM dead_letters GROUP BY reason"
            )
        )
        assert stored == {reason: count for reason, count in reasons.items() if count}

        # The community equals the ground truth in every scope, and every campaign.
        rows = warehouse.latest_snapshot_rows(client)
        scopes = scopes_by_name(rows)
        assert set(scopes) == set(truth["scopes"])
        for key, expected in truth["scopes"].items():
            got = scopes[key]
            assert (
                got.employees,
                got.naive_reach,
                got.distinct_accounts,
                got.distinct_persons,
            ) == (
                expected["employees"],
                expected["naive_reach"],
                expected["distinct_accounts"],
                expected["distinct_persons"],
            ), key
        campaigns = {r.campaign_id: r for r in rows if isinstance(r, CampaignReach)}
        for campaign_id, expected in truth["campaigns"].items():
            assert campaigns[campaign_id].distinct_persons == expected["distinct_persons"], (
                campaign_id
            )

        # The injected spike: one incident holding its department (with whichever other
        # scopes it made fire), fired and resolved.
        for spike in truth["spikes"]:
            statuses = client.execute(
                "SELECT incident_id, groupArray(status) FROM (SELECT DISTINCT incident_id, status FROM alerts "
                "WHERE incident_id IN (SELECT incident_id FROM alerts WHERE has(scopes, %(scope)s))) "
                "GROUP BY incident_id",
                {"scope": f"{spike['scope_kind']}:{spike['scope']}"},
            )
            assert len(statuses) == 1, statuses
            assert sorted(statuses[0][1]) == ["firing", "resolved"]

        check_conversation(client, truth)
    finally:
        client.disconnect()


@pytest.mark.e2e
@pytest.mark.kafka
@pytest.mark.clickhouse
def test_a_simulated_company_through_the_whole_pipeline(
    worker_factory: Any, tmp_path: Path
) -> None:
    config = SimulationConfig(
        seed=11, employees=120, days=30, invalid_rate=0.01, duplicate_rate=0.01
    )
    simulation = simulate(config)
    source = tmp_path / "company.jsonl"
    source.write_bytes(b"".join(line + b"\n" for line in simulation.lines()))
    truth = json.loads(json.dumps(simulation.truth))

    worker: Worker = worker_factory(CHORUS_SNAPSHOT_SECONDS="3")
    warehouse.migrator(worker.settings).migrate()
    worker.start()
    subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", str(source)],
        env={**os.environ, **worker.env},
        check=True,
        capture_output=True,
    )
    wait_until_processed(worker.settings, watched=[worker])
    check_against_truth(worker.settings, truth)
