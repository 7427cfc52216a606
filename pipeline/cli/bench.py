"""`chorus bench NAME`: run a benchmark from `bench/` and print its figures."""

from __future__ import annotations

import importlib
import json
import pkgutil

import click

import bench


def available() -> list[str]:
    return sorted(
        module.name
        for module in pkgutil.iter_modules(bench.__path__)
        if not module.name.startswith("_")
    )


@click.command("bench", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(name: str, as_json: bool, args: tuple[str, ...]) -> None:
    """Run benchmark NAME (extra ARGS go to it). Benchmarks: see `bench/`."""
    if name not in available():
        raise click.UsageError(f"no benchmark {name!r}; there are: {', '.join(available())}")
    module = importlib.import_module(f"bench.{name}")
    figures = module.run(list(args))
    if as_json:
        click.echo(json.dumps(figures, indent=2, default=str))
    else:
        width = max(map(len, figures), default=0)
        for key, value in figures.items():
            click.echo(f"{key:{width}}  {value}")
