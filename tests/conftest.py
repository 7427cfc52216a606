"""Fixtures for the real services, guarded by markers.

A test reaches Kafka or ClickHouse only through the `kafka_bootstrap` and
`clickhouse` fixtures, and only when it carries the matching marker, so
`pytest -m "not kafka and not clickhouse"` never touches a server. A service
that is not reachable fails the test: `make test` starts both, so a skip
would hide a broken setup.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Generator, Iterator

import pytest
from clickhouse_driver import Client

from agents.kafka.admin import delete_topics
from pipeline import warehouse
from pipeline.services.local import port_open
from pipeline.settings import Settings
from tests.support import ARTIFACTS, Worker, free_port

WORKERS = pytest.StashKey[list[Worker]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran workers shows their warnings and last lines (CI keeps no files)."""
    report = yield
    if report.when == "call" and report.failed:
        for worker in item.stash.get(WORKERS, []):
            report.sections.append((f"worker log {worker.log.name}", worker.log_excerpt()))
    return report


def _require_marker(request: pytest.FixtureRequest, marker: str) -> None:
    if request.node.get_closest_marker(marker) is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses a {marker} fixture without @pytest.mark.{marker}"
        )


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def kafka_bootstrap(request: pytest.FixtureRequest, settings: Settings) -> str:
    _require_marker(request, "kafka")
    host, _, port = settings.bootstrap_servers.split(",")[0].rpartition(":")
    if not port_open(int(port), host):
        pytest.fail(
            f"Kafka is not reachable at {settings.bootstrap_servers}: run `chorus services up`"
        )
    return settings.bootstrap_servers


@pytest.fixture
def unique_topic(namespace: Settings) -> str:
    return namespace.topic("smoke")


@pytest.fixture
def clickhouse(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client on a fresh database of its own, dropped afterwards."""
    _require_marker(request, "clickhouse")
    if not port_open(settings.clickhouse_port, settings.clickhouse_host):
        pytest.fail(
            f"ClickHouse is not reachable on port {settings.clickhouse_port}: run `chorus services up`"
        )
    database = f"test_{uuid.uuid4().hex[:12]}"
    admin = Client(settings.clickhouse_host, port=settings.clickhouse_port)
    admin.execute(f"CREATE DATABASE {database}")
    client = Client(settings.clickhouse_host, port=settings.clickhouse_port, database=database)
    try:
        yield client
    finally:
        client.disconnect()
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.disconnect()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings on a namespace of their own (topic prefix, app id, ClickHouse database).

    Its topics and database are removed afterwards: left behind, every test
    run would add hundreds of partitions to the local broker, which then takes
    minutes to start.
    """
    _require_marker(request, "kafka")
    name = f"t{uuid.uuid4().hex[:10]}"
    scoped = dataclasses.replace(settings, topic_prefix=name, app_id=name, clickhouse_database=name)
    yield scoped
    delete_topics(scoped)
    if port_open(scoped.clickhouse_port, scoped.clickhouse_host):
        warehouse.drop_database(scoped)


@pytest.fixture
def worker_factory(
    request: pytest.FixtureRequest, namespace: Settings
) -> Iterator[Callable[..., Worker]]:
    """Workers on a namespace of their own, stopped before it is removed."""
    workers: list[Worker] = request.node.stash.setdefault(WORKERS, [])

    def make(**overrides: str) -> Worker:
        env = {
            "CHORUS_TOPIC_PREFIX": namespace.topic_prefix,
            "CHORUS_APP_ID": namespace.app_id,
            "CHORUS_CLICKHOUSE_DATABASE": namespace.clickhouse_database,
            "CHORUS_WORKER_PORT": str(free_port()),
            **overrides,
        }
        worker = Worker(
            Settings.from_env({**os.environ, **env}),
            env,
            ARTIFACTS / "workers" / f"{namespace.app_id}-{len(workers)}.log",
        )
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.kill()
