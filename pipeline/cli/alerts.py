"""`chorus alerts`: recent slip-up incidents."""

from __future__ import annotations

import click

from pipeline.settings import Settings


@click.group("alerts")
def group() -> None:
    """Recent slip-up incidents."""


@group.command("list")
@click.option("--limit", default=20, show_default=True, help="How many incidents.")
@click.pass_obj
def list_incidents(settings: Settings, limit: int) -> None:
    """One line per incident, newest first: status, scope, counts, times."""
    from clickhouse_driver import Client
    from clickhouse_driver.errors import Error as ClickHouseError

    from pipeline.slipups.alerts import recent_incidents

    client = Client(
        settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password,
        database=settings.clickhouse_database,
        secure=settings.clickhouse_secure,
    )
    try:
        incidents = recent_incidents(client, limit)
    except (ClickHouseError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0:2]
        raise click.ClickException(
            f"cannot read the alerts table: {' '.join(first_line)} "
            "(are the services up and migrated? `chorus services up`, `chorus db migrate`)"
        ) from exc
    finally:
        client.disconnect()
    if not incidents:
        click.echo("no incidents")
    for incident in incidents:
        click.echo(incident.line())
