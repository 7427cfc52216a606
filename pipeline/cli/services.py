"""`chorus services`: the local Kafka broker and ClickHouse server."""

from __future__ import annotations

import subprocess
import sys

import click

from pipeline.services.local import local_services
from pipeline.settings import Settings


@click.group("services")
def group() -> None:
    """Run the local Kafka and ClickHouse (idempotent)."""


@group.command()
@click.pass_obj
def up(settings: Settings) -> None:
    """Install what is missing, start what is not running, wait until both answer."""
    for service in local_services(settings):
        service.up(click.echo)


@group.command()
@click.pass_obj
def down(settings: Settings) -> None:
    """Stop the local services (by pid); their data is kept."""
    for service in reversed(local_services(settings)):
        service.down(click.echo)


@group.command()
@click.pass_obj
def status(settings: Settings) -> None:
    """What runs where. Exit code 0 when both run, 3 otherwise."""
    all_running = True
    for service in local_services(settings):
        state = service.status()
        all_running &= state.running
        where = f"pid {state.pid:<8} {state.endpoint}" if state.running else "-"
        click.echo(
            f"{state.name:11} {'running' if state.running else 'stopped':8} {where}  log {state.log}"
        )
    sys.exit(0 if all_running else 3)


@group.command(context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run(settings: Settings, command: tuple[str, ...]) -> None:
    """Run COMMAND with the services up; stop afterwards those this call started.

    `make test` uses it, so the machine is left as it was found.
    """
    started = [service for service in local_services(settings) if service.up(click.echo)]
    try:
        code = subprocess.call(list(command))
    finally:
        for service in reversed(started):
            service.down(click.echo)
    sys.exit(code)
