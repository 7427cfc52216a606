"""The local Kafka broker and ClickHouse server that `chorus services` runs.

Both are real servers run as plain processes on loopback, with their data,
logs, config and pid files under the state directory. `up` installs what is
missing (the broker's jars through Maven, Debian's clickhouse-server package),
starts what is not running and waits until each really answers; `down` stops,
by pid, only what `up` started, and keeps the data.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import PROJECT_ROOT, Settings

INFRA = PROJECT_ROOT / "infra"
CLICKHOUSE_SERVER = Path("/usr/sbin/clickhouse-server")


class ServiceError(RuntimeError):
    """A service could not be installed, started or reached; the message says why."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    # A zombie is dead for our purposes.
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def _wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise ServiceError(f"{what} did not become ready in {timeout:.0f}s; see {log}")


@dataclass
class Status:
    name: str
    running: bool
    pid: int | None
    endpoint: str
    log: Path


class LocalService:
    """A server process owned by Chorus: a pid file, a log, ports on loopback."""

    name = ""
    start_timeout = 90.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / self.name
        self.pid_file = self.home / f"{self.name}.pid"

    # What each service defines.
    @property
    def ports(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    def install(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Render config and create directories before a start."""

    def ready(self) -> bool:
        raise NotImplementedError

    # The shared life cycle.
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> Status:
        pid = self.pid()
        return Status(self.name, pid is not None, pid, self.endpoint, self.log)

    def up(self, say: Callable[[str], None]) -> bool:
        """Start the service unless it runs; True when this call started it."""
        if self.pid() is not None:
            if not self.ready():
                _wait_until(self.ready, self.start_timeout, self.name, self.log)
            say(f"{self.name}: already running (pid {self.pid()}) at {self.endpoint}")
            return False
        for role, port in self.ports.items():
            if port_open(port):
                raise ServiceError(
                    f"{self.name}: port {port} ({role}) on 127.0.0.1 is taken by another process. "
                    f"Stop it, or choose other ports with the CHORUS_* port settings "
                    f"(see `chorus config`)."
                )
        self.install()
        self.home.mkdir(parents=True, exist_ok=True)
        self.prepare()
        started = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.home / "stdout.log", "ab") as out:
            process = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self.pid_file.write_text(f"{process.pid}\n")

        def check() -> bool:
            if process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode} while starting; "
                    f"see {self.log} and {self.home / 'stdout.log'}"
                )
            return self.ready()

        _wait_until(check, self.start_timeout, self.name, self.log)
        say(
            f"{self.name}: started (pid {process.pid}) at {self.endpoint} "
            f"in {time.monotonic() - started:.1f}s; log {self.log}"
        )
        return True

    def down(self, say: Callable[[str], None]) -> None:
        pid = self.pid()
        if pid is None:
            say(f"{self.name}: not running")
            self.pid_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        say(f"{self.name}: stopped (pid {pid}); data kept in {self.home}")


class Kafka(LocalService):
    """Apache Kafka 4.x, one node, KRaft combined mode, jars from Maven Central."""

    name = "kafka"
    pom = INFRA / "kafka" / "pom.xml"
    # Where this start's lines begin in the log; None once "started" was seen.
    _log_offset: int | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {
            "broker": self.settings.kafka_port,
            "controller": self.settings.kafka_controller_port,
        }

    @property
    def log(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    def install(self) -> None:
        stamp = self.libs / ".pom-sha256"
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest:
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise ServiceError("kafka: needs `java` (17) and `mvn` on the PATH to fetch the broker")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(self.pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.libs}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"kafka: fetching the broker jars failed:\n{result.stdout}{result.stderr}"
            )
        stamp.write_text(digest)

    def prepare(self) -> None:
        data_dir = self.home / "data"
        template = (INFRA / "kafka" / "server.properties.in").read_text()
        properties = self.home / "server.properties"
        properties.write_text(
            template.format(
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=data_dir,
            )
        )
        if not (data_dir / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            result = subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                    "-g",
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise ServiceError(
                    f"kafka: formatting {data_dir} failed:\n{result.stdout}{result.stderr}"
                )
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms512m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={INFRA / 'kafka' / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def command(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.home / "server.properties")]

    def ready(self) -> bool:
        if not port_open(self.settings.kafka_port):
            return False
        if self._log_offset is not None:
            with open(self.log, "rb") as log:
                log.seek(self._log_offset)
                if b"Kafka Server started" not in log.read():
                    return False
            self._log_offset = None
        return kafka_round_trip(self.endpoint, self.settings.topic("healthcheck"))


def kafka_round_trip(bootstrap: str, topic: str) -> bool:
    """Produce one message and read it back: the broker really works."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    token = uuid.uuid4().hex.encode()
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        try:
            metadata = producer.send(topic, token).get(timeout=15)
        finally:
            producer.close(timeout=5)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=10000)
        try:
            partition = TopicPartition(topic, metadata.partition)
            consumer.assign([partition])
            consumer.seek(partition, metadata.offset)
            return any(message.value == token for message in consumer)
        finally:
            consumer.close()
    except KafkaError:
        return False


class ClickHouse(LocalService):
    """Debian's clickhouse-server (18.16) with its own config, data and logs."""

    name = "clickhouse"

    @property
    def ports(self) -> dict[str, int]:
        return {"native": self.settings.clickhouse_port, "http": self.settings.clickhouse_http_port}

    @property
    def log(self) -> Path:
        return self.home / "logs" / "clickhouse-server.log"

    @property
    def endpoint(self) -> str:
        return (
            f"127.0.0.1:{self.settings.clickhouse_port} (http {self.settings.clickhouse_http_port})"
        )

    def install(self) -> None:
        if CLICKHOUSE_SERVER.exists():
            return
        if os.geteuid() != 0:
            raise ServiceError(
                "clickhouse: the server is missing; install it with "
                "`sudo apt-get install clickhouse-server clickhouse-client` and run again"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (
            ["apt-get", "update", "-qq"],
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "clickhouse-server",
                "clickhouse-client",
            ],
        ):
            result = subprocess.run(step, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise ServiceError(f"clickhouse: `{' '.join(step)}` failed:\n{result.stderr}")

    def prepare(self) -> None:
        data_dir = self.home / "data"
        for sub in ("tmp", "user_files", "format_schemas"):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
        template = (INFRA / "clickhouse" / "config.xml.in").read_text()
        (self.home / "config.xml").write_text(
            template.format(
                log_dir=self.home / "logs",
                port=self.settings.clickhouse_port,
                http_port=self.settings.clickhouse_http_port,
                data_dir=data_dir,
                users_config=INFRA / "clickhouse" / "users.xml",
            )
        )

    def command(self) -> list[str]:
        return [str(CLICKHOUSE_SERVER), f"--config-file={self.home / 'config.xml'}"]

    def ready(self) -> bool:
        from clickhouse_driver import Client
        from clickhouse_driver.errors import Error

        if not port_open(self.settings.clickhouse_port):
            return False
        try:
            client = Client("127.0.0.1", port=self.settings.clickhouse_port, connect_timeout=2)
            ok = client.execute("SELECT 1") == [(1,)]
            client.disconnect()
            return ok
        except (Error, OSError, EOFError):
            return False


def local_services(settings: Settings) -> list[LocalService]:
    return [Kafka(settings), ClickHouse(settings)]
