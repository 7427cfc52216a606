"""Chorus configuration, read once from the environment.

Every setting has one environment variable and a default that works on a
developer's machine with the services from `chorus services up`. The table in
docs/operations.md comes from `Settings.describe()`, so it cannot drift.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "production")


def masked_url(url: str) -> str:
    """How logs, stored rows and `chorus config` show a URL that may carry a secret.

    Chat webhooks carry their token in the path or the query (Slack's
    `/services/T…/B…/<token>`, Teams' `?sig=`), and the user part may hold a
    password: only the scheme and the host are kept, with a short digest of the
    whole URL so that two webhooks on one host stay apart,
    e.g. `https://hooks.slack.com/…#3f9a1c2b`.
    """
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: nothing is shown of it
        return f"…#{digest}"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}/…#{digest}"


def _hidden(value: str) -> str:
    return "***" if value else ""


def _masked_urls(value: str) -> str:
    return ",".join(masked_url(url.strip()) for url in value.split(",") if url.strip())


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    mask: Callable[[str], str] | None = None,
) -> Any:
    """A setting: its variable, default and meaning; `choices` lists the only values
    accepted (any case), `mask` shows a secret in `describe()`."""
    return field(
        default=default, metadata={"env": env, "help": help, "choices": choices, "mask": mask}
    )


def _parse(env: str, raw: str, kind: type, choices: tuple[str, ...]) -> Any:
    if choices:  # checked by `Settings.__post_init__`, for settings made in code too
        return raw.strip().lower()
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ValueError(f"{env}={raw!r} is not a valid {kind.__name__}") from None


@dataclass(frozen=True)
class Settings:
    """Where the services are and how the pipeline behaves."""

    state_dir: Path = setting(
        "CHORUS_STATE_DIR", PROJECT_ROOT / ".chorus", "data, logs and pids of the local services"
    )
    environment: str = setting(
        "CHORUS_ENV",
        "development",
        "`development` or `production`, in any case; production refuses unsafe defaults, "
        "any other value is an error",
        choices=ENVIRONMENTS,
    )
    kafka_port: int = setting("CHORUS_KAFKA_PORT", 19092, "port of the local Kafka broker")
    kafka_controller_port: int = setting(
        "CHORUS_KAFKA_CONTROLLER_PORT", 19093, "KRaft controller port of the local broker"
    )
    kafka_bootstrap: str = setting(
        "CHORUS_KAFKA_BOOTSTRAP", "", "Kafka bootstrap servers; empty: the local broker"
    )
    kafka_security_protocol: str = setting(
        "CHORUS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: str = setting(
        "CHORUS_KAFKA_SASL_MECHANISM", "PLAIN", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_username: str = setting("CHORUS_KAFKA_USERNAME", "", "SASL user")
    kafka_password: str = setting("CHORUS_KAFKA_PASSWORD", "", "SASL password", mask=_hidden)
    kafka_ca_file: str = setting(
        "CHORUS_KAFKA_CA_FILE", "", "CA bundle for TLS to Kafka; empty: the system's"
    )
    topic_prefix: str = setting("CHORUS_TOPIC_PREFIX", "chorus", "prefix of every Chorus topic")
    app_id: str = setting("CHORUS_APP_ID", "chorus", "faust application id (the consumer group)")
    partitions: int = setting(
        "CHORUS_PARTITIONS", 4, "partitions of the parallel topics (raw, engagement)"
    )
    batch_rows: int = setting("CHORUS_BATCH_ROWS", 5000, "largest batch an agent takes at once")
    batch_seconds: float = setting(
        "CHORUS_BATCH_SECONDS", 1.0, "longest an agent waits to fill a batch"
    )
    insert_rows: int = setting(
        "CHORUS_INSERT_ROWS",
        25_000,
        "most rows a sink writes to a table in one ClickHouse insert (ClickHouse advises 10,000-100,000)",
    )
    agents: str = setting(
        "CHORUS_AGENTS", "all", "agents this worker runs: `all` or a list such as `ingest,sink`"
    )
    link_threshold: float = setting(
        "CHORUS_LINK_THRESHOLD", 0.5, "identity links below this confidence are ignored"
    )
    snapshot_seconds: float = setting(
        "CHORUS_SNAPSHOT_SECONDS", 30.0, "how often the audience graph is snapshotted (if changed)"
    )
    policy_file: str = setting(
        "CHORUS_POLICY_FILE", "", "slip-up policy (TOML); empty: the shipped default policy"
    )
    alert_webhooks: str = setting(
        "CHORUS_ALERT_WEBHOOKS",
        "",
        "comma-separated webhook URLs that receive alerts (secrets: shown masked)",
        mask=_masked_urls,
    )
    worker_host: str = setting(
        "CHORUS_WORKER_HOST",
        "127.0.0.1",
        "interface the worker web server listens on; `0.0.0.0`: every interface",
    )
    worker_port: int = setting("CHORUS_WORKER_PORT", 16066, "worker web port (/metrics)")
    clickhouse_host: str = setting("CHORUS_CLICKHOUSE_HOST", "127.0.0.1", "ClickHouse host")
    clickhouse_port: int = setting("CHORUS_CLICKHOUSE_PORT", 19000, "ClickHouse native port")
    clickhouse_http_port: int = setting(
        "CHORUS_CLICKHOUSE_HTTP_PORT", 18123, "HTTP port of the local ClickHouse server"
    )
    clickhouse_user: str = setting("CHORUS_CLICKHOUSE_USER", "default", "ClickHouse user")
    clickhouse_password: str = setting(
        "CHORUS_CLICKHOUSE_PASSWORD", "", "ClickHouse password", mask=_hidden
    )
    clickhouse_database: str = setting(
        "CHORUS_CLICKHOUSE_DATABASE", "chorus", "database of the Chorus tables"
    )
    clickhouse_secure: bool = setting("CHORUS_CLICKHOUSE_SECURE", False, "TLS to ClickHouse")
    emv_currency: str = setting(
        "CHORUS_EMV_CURRENCY", "EUR", "currency of the earned media value (an estimate)"
    )
    emv_cpm: str = setting(
        "CHORUS_EMV_CPM",
        "*=6,linkedin=30,x=5",
        "price of 1,000 impressions per network (`*`: any other) for the earned media value",
    )
    emv_cpc: str = setting(
        "CHORUS_EMV_CPC",
        "*=0.8,linkedin=5",
        "price of a click per network (`*`: any other) for the earned media value",
    )
    workspace_host: str = setting(
        "CHORUS_WORKSPACE_HOST",
        "127.0.0.1",
        "interface the workspace (review queue and dashboard) listens on",
    )
    workspace_port: int = setting("CHORUS_WORKSPACE_PORT", 8050, "workspace web port")
    users_file: str = setting(
        "CHORUS_USERS_FILE",
        "",
        "workspace accounts (`chorus users`); empty: users.json in CHORUS_STATE_DIR",
    )
    session_hours: float = setting(
        "CHORUS_SESSION_HOURS", 12.0, "a workspace session ends after this long without use"
    )
    secure_cookies: bool = setting(
        "CHORUS_SECURE_COOKIES",
        True,
        "session cookies only over HTTPS (browsers count http://127.0.0.1 as secure too); "
        "production refuses false",
    )
    trusted_proxies: str = setting(
        "CHORUS_TRUSTED_PROXIES",
        "",
        "single sign-on: addresses or networks (CIDR) of the reverse proxies whose identity "
        "header is believed; empty: log in with a password",
    )
    identity_header: str = setting(
        "CHORUS_IDENTITY_HEADER",
        "X-Forwarded-User",
        "single sign-on: the header in which a trusted proxy names the user",
    )
    spot_check_share: float = setting(
        "CHORUS_SPOT_CHECK_SHARE",
        0.01,
        "share of unflagged posts that enter the review queue as spot checks (recall)",
    )
    review_retention_days: int = setting(
        "CHORUS_REVIEW_RETENTION_DAYS",
        1096,
        "days flags and their review trail are kept (3 years: SEC rule 17a-4's minimum)",
    )

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values = {
            f.name: _parse(
                f.metadata["env"], environ[f.metadata["env"]], hints[f.name], f.metadata["choices"]
            )
            for f in fields(cls)
            if f.metadata["env"] in environ
        }
        return cls(**values)

    def __post_init__(self) -> None:
        """Refuse a value outside a setting's `choices`: a typo must not select a default mode."""
        for f in fields(self):
            choices = f.metadata["choices"]
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(
                    f"{f.metadata['env']}={getattr(self, f.name)!r} is not one of "
                    f"{', '.join(choices)}"
                )
        if self.environment == "production" and not self.secure_cookies:
            raise ValueError("CHORUS_SECURE_COOKIES=false is refused in production")
        if not 0 <= self.spot_check_share <= 1:
            raise ValueError(f"CHORUS_SPOT_CHECK_SHARE={self.spot_check_share} is not a share")

    @property
    def users_path(self) -> Path:
        return Path(self.users_file) if self.users_file else self.state_dir / "users.json"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def kafka_options(self, client: str = "aiokafka") -> dict[str, Any]:
        """Security options for a Kafka client: `aiokafka` or `kafka-python` (they differ on TLS)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            options.update(
                sasl_mechanism=self.kafka_sasl_mechanism,
                sasl_plain_username=self.kafka_username,
                sasl_plain_password=self.kafka_password,
            )
        if self.kafka_security_protocol.endswith("SSL"):
            if client == "aiokafka":
                options["ssl_context"] = ssl.create_default_context(
                    cafile=self.kafka_ca_file or None
                )
            elif self.kafka_ca_file:
                options["ssl_cafile"] = self.kafka_ca_file
        return options

    def runs(self, agent: str) -> bool:
        """Whether this worker runs the agent group `agent` (`agents.app.AGENTS`)."""
        chosen = {name.strip() for name in self.agents.split(",")}
        return "all" in chosen or agent in chosen

    @property
    def ingest_group(self) -> str:
        """The consumer group of chorus.raw (see agents/kafka/raw_feed.py); the app id is the others'."""
        return f"{self.app_id}-ingest"

    def topic(self, name: str) -> str:
        """The full name of a Chorus topic: `topic("raw")` is `chorus.raw`."""
        return f"{self.topic_prefix}.{name}"

    def describe(self) -> list[tuple[str, str, str]]:
        """(environment variable, value, meaning) of every setting; secrets masked."""
        return [
            (
                f.metadata["env"],
                (f.metadata["mask"] or str)(getattr(self, f.name)),
                f.metadata["help"],
            )
            for f in fields(self)
        ]
