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
    """One line per incident, newest first: status, scope, counts, times, the scopes it grouped."""
    from pipeline import warehouse
    from pipeline.warehouse.reads import recent_incidents

    client = warehouse.client(settings)
    try:
        incidents = recent_incidents(client, limit)
    except warehouse.TRANSIENT_ERRORS as exc:
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
