"""The `chorus` command: every user-facing action, one sub-command each.

Each group lives in `pipeline/cli/` beside this module and only parses
arguments and prints; the work is done by the domain modules.
"""

from __future__ import annotations

import logging
import sys
from typing import BinaryIO

import click

from pipeline.cli import (
    alerts,
    audience,
    bench,
    coach,
    connect,
    dashboard,
    db,
    policy,
    services,
    simulate,
    workspace,
)
from pipeline.services.local import ServiceError
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
        # The Kafka clients log every connection and every transient retry;
        # Chorus reports what actually failed.
        for chatty in ("kafka", "aiokafka"):
            logging.getLogger(chatty).setLevel(logging.CRITICAL)
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


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def worker(settings: Settings, args: tuple[str, ...]) -> None:
    """The faust worker with every agent (extra ARGS go to faust's `worker`)."""
    import mode.loop

    from agents.app import create_app
    from agents.kafka.admin import declare_topics
    from pipeline.runtime import tune_gc

    # faust spends most of a worker's time in the event loop; uvloop runs it faster.
    mode.loop.use("uvloop")
    tune_gc()
    declare_topics(settings)
    app, _ = create_app(settings)
    sys.argv = ["chorus worker", "worker", "--loglevel", "info", *args]
    app.main()


@cli.command()
@click.argument("source", type=click.File("rb"))
@click.option("--topic", help="Topic to produce to (default: chorus.raw).")
@click.pass_obj
def ingest(settings: Settings, source: BinaryIO, topic: str | None) -> None:
    """Produce a JSONL file (or - for stdin) to chorus.raw, one event per line."""
    from agents.kafka.producer import produce

    lines = (line.rstrip(b"\r\n") for line in source)
    with click.progressbar(length=0, label="events sent", show_pos=True) as bar:

        def progress(sent: int) -> None:
            bar.update(sent - bar.pos)

        sent = produce(settings, (line for line in lines if line), topic=topic, progress=progress)
    click.echo(f"{sent:,} events sent to {topic or settings.topic('raw')}")


@cli.command()
@click.pass_obj
def demo(settings: Settings) -> None:
    """Start everything and stream a simulated company (what `make demo` runs)."""
    from pipeline.demo import story

    story.run(settings, click.echo)


for group in (
    services.group,
    db.group,
    audience.group,
    policy.group,
    alerts.group,
    coach.group,
    workspace.users,
    workspace.review,
):
    cli.add_command(group)
cli.add_command(simulate.command)
cli.add_command(bench.command)
cli.add_command(dashboard.command)
cli.add_command(connect.command)
cli.add_command(workspace.workspace)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
