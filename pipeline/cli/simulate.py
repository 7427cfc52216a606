"""`chorus simulate`: a synthetic company with known ground truth."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from pipeline.settings import Settings
from pipeline.simulator.config import NETWORKS, SimulationConfig

DEFAULTS = SimulationConfig()


def _written(lines: Iterable[bytes], out: IO[bytes]) -> Iterator[bytes]:
    """Write each line to `out` as it passes, so the file and Kafka get one generation."""
    for line in lines:
        out.write(line + b"\n")
        yield line


@click.command("simulate")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write JSONL here.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ground-truth JSON (default: OUT with .truth.json).",
)
@click.option("--to-kafka", is_flag=True, help="Produce the events to chorus.raw.")
@click.option("--seed", default=DEFAULTS.seed, show_default=True)
@click.option("--employees", default=DEFAULTS.employees, show_default=True)
@click.option("--days", default=DEFAULTS.days, show_default=True)
@click.option(
    "--sampled-network",
    default=DEFAULTS.sampled_network,
    show_default=True,
    type=click.Choice([*NETWORKS, "none"]),
    help="The network that gives counts and samples, not follower lists.",
)
@click.option("--sample-rate", default=DEFAULTS.sample_rate, show_default=True)
@click.option("--sample-max", default=DEFAULTS.sample_max, show_default=True)
@click.option("--slipup-rate", default=DEFAULTS.slipup_rate, show_default=True)
@click.option("--spikes", default=DEFAULTS.spikes, show_default=True)
@click.option("--campaigns", default=DEFAULTS.campaigns, show_default=True)
@click.option("--invalid-rate", default=DEFAULTS.invalid_rate, show_default=True)
@click.option("--duplicate-rate", default=DEFAULTS.duplicate_rate, show_default=True)
@click.pass_obj
def command(
    settings: Settings,
    out: Path | None,
    truth: Path | None,
    to_kafka: bool,
    sampled_network: str,
    **knobs: Any,
) -> None:
    """A synthetic company with known ground truth (JSONL, or straight to Kafka)."""
    if out is None and not to_kafka:
        raise click.UsageError("say where the events go: --out FILE.jsonl and/or --to-kafka")
    try:
        config = SimulationConfig(
            sampled_network=None if sampled_network == "none" else sampled_network, **knobs
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from pipeline.simulator.company import simulate, summary

    began = time.perf_counter()
    simulation = simulate(config)
    truth_path = truth or (out.with_suffix(".truth.json") if out is not None else None)
    if truth_path is not None:
        truth_path.write_text(json.dumps(simulation.truth, indent=2) + "\n")
    lines: Iterable[bytes] = simulation.lines()
    with contextlib.ExitStack() as stack:
        if out is not None:
            lines = _written(lines, stack.enter_context(out.open("wb")))
        if to_kafka:
            from agents.kafka.producer import produce

            sent = produce(
                settings,
                lines,
                progress=lambda n: click.echo(f"  {n:,} lines sent", err=True),
            )
            click.echo(f"sent {sent:,} lines to {settings.topic('raw')}")
        else:
            written = sum(1 for _ in lines)
            click.echo(f"wrote {written:,} lines to {out}")
    if truth_path is not None:
        click.echo(f"ground truth: {truth_path}")
    for line in summary(simulation.truth):
        click.echo(line)
    click.echo(f"took {time.perf_counter() - began:.1f} s")
