"""A slip-up spike, from the simulator to a chat webhook, through the real broker and server.

The simulator injects one spike in one department. The worker must deliver
exactly one `firing` and one `resolved` alert for it to a webhook (a local
`http.server`), however many scopes it makes fire: one incident holding the
department. Each body carries `text` (what Slack and Teams display) and the
alert's structured fields; and a second webhook that is down (a closed port)
must not hold anything up: the rest of the pipeline completes and matches the
simulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from agents.kafka.producer import produce
from pipeline import warehouse
from schemas.slipups import Alert
from tests.support import Company, WebhookReceiver, Worker, wait_for
from tests.test_e2e import check_against_truth, wait_until_processed

ALERT_FIELDS = {f.name for f in msgspec.structs.fields(Alert)}


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_a_spike_reaches_the_webhook_once_firing_once_resolved_past_a_dead_webhook(
    worker_factory: Callable[..., Worker],
) -> None:
    company = Company.simulate(employees=60, seed=11)  # 30,473 lines
    [spike] = company.truth["spikes"]
    receiver = WebhookReceiver()
    dead = WebhookReceiver()  # never started: a closed port
    receiver.start()
    try:
        worker = worker_factory(
            CHORUS_SNAPSHOT_SECONDS="3", CHORUS_ALERT_WEBHOOKS=f"{dead.url},{receiver.url}"
        )
        warehouse.migrator(worker.settings).migrate()
        worker.start()
        produce(worker.settings, company.lines)
        wait_until_processed(worker.settings, watched=[worker])

        department = f"{spike['scope_kind']}:{spike['scope']}"

        def spike_alerts() -> list[dict[str, Any]]:
            """The alerts of every incident that holds the spike's department."""
            held = {body["incident_id"] for body in receiver.bodies if department in body["scopes"]}
            return [body for body in receiver.bodies if body["incident_id"] in held]

        wait_for(lambda: len(spike_alerts()) >= 2, 120, "the spike's two alerts at the webhook")
        check_against_truth(worker.settings, company.truth)
    finally:
        receiver.stop()

    for body in receiver.bodies:
        print(f"\n[alerts] received {body['alert_id']}: {body['text']}")
    alerts = spike_alerts()
    assert sorted(body["status"] for body in alerts) == ["firing", "resolved"], alerts
    assert len({body["incident_id"] for body in alerts}) == 1, alerts
    resolved = next(body for body in alerts if body["status"] == "resolved")
    assert department in resolved["scopes"] and resolved["scopes"][0] == (
        f"{resolved['scope_kind']}:{resolved['scope']}"
    )
    for body in alerts:
        assert set(body) == ALERT_FIELDS | {"text"}
        assert body["text"] == body["summary"] and body["text"]
        # The structured fields are an Alert's.
        alert = msgspec.convert({k: v for k, v in body.items() if k != "text"}, Alert)
        assert alert.status == body["status"] and 0 <= alert.p_value <= 1
    # Nothing posted twice, whatever the scope.
    assert len({body["alert_id"] for body in receiver.bodies}) == len(receiver.bodies)
    warehouse.drop_database(worker.settings)
