"""`chorus db`: ClickHouse migrations (the numbered files in sql/)."""

from __future__ import annotations

import click

from pipeline.settings import Settings


@click.group("db")
def group() -> None:
    """ClickHouse migrations."""


@group.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Apply the pending sql/ migrations, in order, to CHORUS_CLICKHOUSE_DATABASE."""
    from pipeline import warehouse

    try:
        done = warehouse.migrator(settings).migrate(click.echo)
    except warehouse.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    database = settings.clickhouse_database
    click.echo(f"{len(done)} migration(s) applied; {database} is up to date")


@group.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """List the migrations: applied (and when), pending, or changed since applied."""
    from pipeline import warehouse

    states = warehouse.migrator(settings).status()
    for state in states:
        click.echo(f"{state.version:04d}_{state.name:30} {state.state:8} {state.applied_at or ''}")
    pending = sum(s.state == "pending" for s in states)
    broken = [s for s in states if s.state in ("changed", "missing")]
    click.echo(f"{pending} pending")
    if broken:
        raise click.ClickException(
            f"{len(broken)} applied migration(s) differ from sql/; `chorus db migrate` will refuse"
        )
