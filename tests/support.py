"""Helpers for the tests that run workers against the real services."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from pipeline.services.local import ClickHouse, Kafka
from pipeline.settings import PROJECT_ROOT, Settings
from schemas.columnar import BatchDecoder

T = TypeVar("T", bound=msgspec.Struct)

# Logs and screenshots that a test run leaves for people to look at.
ARTIFACTS = PROJECT_ROOT / "artifacts"


class Worker:
    """A `chorus worker` process with its own topics, consumer group and database."""

    def __init__(self, settings: Settings, env: dict[str, str], log: Path) -> None:
        self.settings = settings
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "worker"],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.process.returncode}); see {self.log}")
            with open(self.log, "rb") as log:
                log.seek(offset)
                if b"Worker]: Ready" in log.read():
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the worker was not ready in {timeout}s; see {self.log}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_excerpt(self, warnings: int = 40, last: int = 15) -> str:
        """Its last WARNING and ERROR lines, then its last lines."""
        if not self.log.exists():
            return "(no log)"
        lines = self.log.read_text(errors="replace").splitlines()
        flagged = [line for line in lines if "WARNING" in line or "ERROR" in line]
        return "\n".join([*flagged[-warnings:], "...", *lines[-last:]])

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def topic_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Messages in each topic (end minus beginning offsets, all partitions)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        counts = {}
        for topic in topics:
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
            ends = consumer.end_offsets(partitions)
            starts = consumer.beginning_offsets(partitions)
            counts[topic] = sum(ends[tp] - starts[tp] for tp in partitions)
        return counts
    finally:
        consumer.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def topic_records(
    bootstrap: str, topic: str, decoder: BatchDecoder[T], timeout_ms: int = 3000
) -> list[T]:
    """Every record in a topic Chorus wrote, its micro-batches decoded (`schemas.columnar`)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=timeout_ms,
    )
    try:
        return [record for message in consumer for record in decoder.records(message.value)]
    finally:
        consumer.close()


class WebhookReceiver:
    """A chat webhook on 127.0.0.1: an `http.server` in a thread that keeps every JSON body.

    The port is chosen when it is built, so a test can hand its URL to a worker
    first and `start` it later: until then the URL is a webhook that is down.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.bodies: list[dict[str, Any]] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test prints what it received."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def private_kafka(state_dir: Path) -> Kafka:
    """A broker of a test's own on free ports, for faults that must not touch the shared one.

    Its `libs` is a link to the jars `chorus services up` installed, so no
    second download (`Kafka.install` sees their stamp).
    """
    service = Kafka(
        Settings(state_dir=state_dir, kafka_port=free_port(), kafka_controller_port=free_port())
    )
    service.home.mkdir(parents=True, exist_ok=True)
    service.libs.symlink_to(Kafka(Settings.from_env()).libs)
    return service


def private_clickhouse(state_dir: Path) -> ClickHouse:
    """A ClickHouse server of a test's own on free ports, for faults that must not touch the shared one."""
    return ClickHouse(
        Settings(state_dir=state_dir, clickhouse_port=free_port(), clickhouse_http_port=free_port())
    )


@dataclass
class Company:
    """A simulated company: its lines as `chorus ingest` sends them, and its ground truth."""

    lines: list[bytes]
    truth: dict[str, Any]  # JSON types, as `tests.test_e2e.check_against_truth` reads it

    @classmethod
    def simulate(cls, employees: int, seed: int) -> Company:
        from pipeline.simulator.company import simulate
        from pipeline.simulator.config import SimulationConfig

        simulation = simulate(
            SimulationConfig(
                seed=seed, employees=employees, days=30, invalid_rate=0.01, duplicate_rate=0.01
            )
        )
        return cls(list(simulation.lines()), json.loads(json.dumps(simulation.truth)))

    @property
    def valid(self) -> int:
        return int(self.truth["events"]["valid"])

    def spike_position(self) -> float:
        """Where in the stream (0..1) the injected spike starts: the share of lines before it.

        Lines come in time order, bar a few invalid ones (future timestamps).
        The follow backfill of the first hour is most of the stream, so this is
        far from the spike's share of the 30 days.
        """
        start = self.truth["spikes"][0]["start"].encode()
        times = (re.search(rb'"occurred_at":"([^"]+)"', line) for line in self.lines)
        return sum(1 for at in times if at and at.group(1) < start) / len(self.lines)


class Stream:
    """Sends lines to chorus.raw from a thread at a steady pace, so that faults land mid-stream."""

    def __init__(self, settings: Settings, lines: list[bytes], per_second: float) -> None:
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(settings, lines, per_second), daemon=True
        )

    def _run(self, settings: Settings, lines: list[bytes], per_second: float) -> None:
        from agents.kafka.producer import produce

        def progress(sent: int) -> None:
            self.sent = sent

        try:
            produce(settings, _paced(lines, per_second), progress=progress, every=1000)
        except BaseException as exc:  # re-raised by `join`, in the test's thread
            self.error = exc

    def start(self) -> Stream:
        self._thread.start()
        return self

    def join(self, timeout: float = 300) -> int:
        """Wait until every line is sent; how many were."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the stream was still sending after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.sent


def _paced(lines: Iterable[bytes], per_second: float) -> Iterator[bytes]:
    started = time.monotonic()
    for number, line in enumerate(lines):
        if number % 500 == 0:
            ahead = number / per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        yield line
