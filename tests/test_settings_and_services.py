"""Settings from the environment, and the local services' guard rails (no server needed)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from pipeline.services.local import ClickHouse, Kafka, LocalService, ServiceError
from pipeline.settings import Settings


def test_defaults_point_at_the_local_services() -> None:
    settings = Settings.from_env({})
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.clickhouse_port == 19000
    assert settings.topic("raw") == "chorus.raw"


def test_environment_overrides_and_types() -> None:
    settings = Settings.from_env(
        {
            "CHORUS_KAFKA_PORT": "29092",
            "CHORUS_CLICKHOUSE_SECURE": "yes",
            "CHORUS_STATE_DIR": "/tmp/x",
            "CHORUS_TOPIC_PREFIX": "acme",
        }
    )
    assert settings.bootstrap_servers == "127.0.0.1:29092"
    assert settings.clickhouse_secure is True
    assert settings.state_dir == Path("/tmp/x")
    assert settings.topic("dlq") == "acme.dlq"


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(ValueError, match="CHORUS_KAFKA_PORT='abc' is not a valid int"):
        Settings.from_env({"CHORUS_KAFKA_PORT": "abc"})


def test_describe_masks_the_password() -> None:
    rows = dict((env, value) for env, value, _ in Settings(clickhouse_password="s3cret").describe())
    assert rows["CHORUS_CLICKHOUSE_PASSWORD"] == "***"


@pytest.mark.parametrize("service", [Kafka, ClickHouse])
def test_a_taken_port_is_refused_clearly(tmp_path: Path, service: type[LocalService]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = Settings(state_dir=tmp_path, kafka_port=port, clickhouse_port=port)
        with pytest.raises(ServiceError, match=f"port {port} .* is taken by another process"):
            service(settings).up(print)
    assert not (tmp_path / service.name / f"{service.name}.pid").exists()


def test_status_of_a_service_never_started(tmp_path: Path) -> None:
    status = Kafka(Settings(state_dir=tmp_path)).status()
    assert not status.running and status.pid is None


def test_kafka_security_options_for_each_client() -> None:
    plain = Settings()
    assert plain.kafka_options() == {"security_protocol": "PLAINTEXT"}
    sasl = Settings.from_env(
        {
            "CHORUS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CHORUS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CHORUS_KAFKA_USERNAME": "chorus",
            "CHORUS_KAFKA_PASSWORD": "secret",
        }
    )
    aiokafka = sasl.kafka_options()
    assert (
        aiokafka["sasl_mechanism"] == "SCRAM-SHA-512"
        and aiokafka["sasl_plain_password"] == "secret"
    )
    assert isinstance(aiokafka["ssl_context"], ssl.SSLContext)
    assert "ssl_context" not in sasl.kafka_options("kafka-python")
    assert dict((env, value) for env, value, _ in sasl.describe())["CHORUS_KAFKA_PASSWORD"] == "***"


def test_faust_gets_the_same_credentials() -> None:
    import faust

    from agents.app import create_app

    app, _ = create_app(
        Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_username="u", kafka_password="p")
    )
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.username == "u"
