"""Settings from the environment, and the local services' guard rails (no server needed)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.services.local import ClickHouse, Kafka, LocalService, ServiceError
from pipeline.settings import Settings, masked_url


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


def test_chorus_config_prints_no_secret() -> None:
    hooks = "https://hooks.slack.com/services/T1/B1/hooktoken,http://127.0.0.1:9/h?token=t0k"
    env = {
        "CHORUS_ALERT_WEBHOOKS": hooks,
        "CHORUS_KAFKA_PASSWORD": "kafkapass",
        "CHORUS_CLICKHOUSE_PASSWORD": "chpass",
        "CHORUS_PSEUDONYM_KEY": "pseudokey",
    }
    result = CliRunner().invoke(cli, ["config"], env=env)
    assert result.exit_code == 0, result.output
    for secret in ("hooktoken", "t0k", "kafkapass", "chpass", "pseudokey"):
        assert secret not in result.output
    shown = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert shown["CHORUS_KAFKA_PASSWORD"] == shown["CHORUS_CLICKHOUSE_PASSWORD"] == "***"
    assert shown["CHORUS_ALERT_WEBHOOKS"] == ",".join(masked_url(u) for u in hooks.split(","))


@pytest.mark.parametrize("raw", ["production", "Production", " PRODUCTION\n"])
def test_chorus_env_is_read_in_any_case(raw: str) -> None:
    assert Settings.from_env({"CHORUS_ENV": raw}).environment == "production"


@pytest.mark.parametrize("raw", ["prod", "staging", "", "production!"])
def test_an_unknown_chorus_env_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"CHORUS_ENV=.* is not one of development, production"):
        Settings.from_env({"CHORUS_ENV": raw})


def test_an_unknown_chorus_env_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["config"], env={"CHORUS_ENV": "prod"})
    assert result.exit_code == 2
    assert "CHORUS_ENV='prod' is not one of development, production" in result.output


def test_settings_made_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="CHORUS_ENV='Production' is not one of"):
        Settings(environment="Production")


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


def test_the_worker_web_server_is_local_and_serves_metrics_and_health_only() -> None:
    from faust.web.drivers.aiohttp import Web

    from agents.app import create_app

    app, _ = create_app(Settings())
    assert app.conf.web_bind == "127.0.0.1"
    web = app.web
    assert isinstance(web, Web)  # faust's aiohttp driver, the one `chorus worker` runs
    web.init_server()  # registers the routes as `chorus worker` does
    assert sorted(web.views) == ["/", "/metrics"]

    async def statuses() -> dict[str, int]:
        paths = ["/", "/metrics", "/router/", "/table/", "/table/roster/", "/stats/", "/graph/"]
        async with TestClient(TestServer(web.web_app)) as client:  # on a free loopback port
            return {path: (await client.get(path)).status for path in paths}

    assert asyncio.run(statuses()) == {
        "/": 200,
        "/metrics": 200,
        "/router/": 404,
        "/table/": 404,
        "/table/roster/": 404,
        "/stats/": 404,
        "/graph/": 404,
    }


def test_chorus_worker_host_opens_the_web_server() -> None:
    from agents.app import create_app

    settings = Settings.from_env({"CHORUS_WORKER_HOST": "0.0.0.0"})
    app, _ = create_app(settings)
    assert app.conf.web_bind == "0.0.0.0"
