"""The `chorus` command: every user-facing action, one sub-command each.

Each group lives in `pipeline/commands/` beside the others and only parses
arguments and prints; the work is done by the domain modules.
"""

from __future__ import annotations

import logging
import sys

import click

from pipeline.commands import services
from pipeline.services import ServiceError
from pipeline.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Chorus: the true community size of an employee-advocacy programme, live."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # The Kafka clients log every connection at INFO.
        for chatty in ("kafka", "aiokafka"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        ctx.obj = Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command("config")
@click.pass_obj
def show_config(settings: Settings) -> None:
    """Print every setting: its environment variable and current value."""
    for env, value, meaning in settings.describe():
        click.echo(f"{env:30} {value:36} {meaning}")


@cli.command()
@click.pass_obj
def demo(settings: Settings) -> None:
    """Start everything and stream a simulated company (what `make demo` runs)."""
    from pipeline import demo as story

    story.run(settings, click.echo)


cli.add_command(services.group)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
