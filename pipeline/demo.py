"""`make demo`: the whole story on one machine, from nothing to the headline."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.services import ServiceError, kafka_round_trip, local_services
from pipeline.settings import Settings


def run(settings: Settings, say: Callable[[str], None]) -> None:
    say("1/2 services: starting the local Kafka broker and ClickHouse server")
    for service in local_services(settings):
        service.up(say)
    say("2/2 smoke: a produce/consume round trip through the broker")
    if not kafka_round_trip(settings.bootstrap_servers, settings.topic("healthcheck")):
        raise ServiceError("the Kafka round trip failed; see `chorus services status`")
    say("ok. The services are left running; stop them with `chorus services down`.")
