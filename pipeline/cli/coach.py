"""`chorus coach`: the weekly coaching digests for employees and their managers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.reading import clickhouse
from pipeline.settings import Settings, masked_url

if TYPE_CHECKING:
    from pipeline.slipups.alerts import RetryPolicy


@click.group("coach")
def group() -> None:
    """Coaching from the review of flags: weekly digests for employees and managers."""


@group.command("digest")
@click.option(
    "--week", required=True, metavar="YYYY-Www", help="The ISO week (Monday to Sunday, UTC)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory; the week's files go to OUT/YYYY-Www/.",
)
@click.option(
    "--all-employees",
    is_flag=True,
    help="Also a short digest for each employee who posted that week without a flag.",
)
@click.option(
    "--webhook",
    metavar="URL",
    help="POST the week's summary and one JSON message per department digest (shown masked).",
)
@click.pass_obj
def digest(
    settings: Settings, week: str, out: Path, all_employees: bool, webhook: str | None
) -> None:
    """Digests of one week, as Markdown and HTML: one per flagged employee, one per department, an index."""
    from pipeline.review.digest import IsoWeek, build, plural, webhook_messages, write
    from pipeline.slipups.alerts import parse_webhooks
    from pipeline.warehouse.coaching import coaching_week

    try:
        iso_week = IsoWeek.parse(week)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from exc
    try:
        urls = parse_webhooks(webhook or "")
    except ValueError:  # its message quotes the URL, which holds the webhook's token
        raise click.BadParameter(
            f"not an http(s) URL: {masked_url(webhook or '')}", param_hint="--webhook"
        ) from None

    with clickhouse(settings, "the week's flags and posts") as client:
        data = coaching_week(client.execute, iso_week)
    digests = build(data, clean_weeks=all_employees)
    written = write(digests, out)
    if digests.empty:
        click.echo(f"{iso_week.label}: no posts and no flags; the index says so")
    else:
        click.echo(
            f"{iso_week.label}: {plural(len(digests.employees), 'employee digest')}, "
            f"{plural(len(digests.clean), 'clean week')}, "
            f"{plural(len(digests.departments), 'department digest')} and the index"
        )
    click.echo(f"wrote {len(written)} files (Markdown and HTML) to {out / iso_week.label}")

    messages = webhook_messages(digests)
    for url in urls:
        failures = post_each(url, messages)
        delivered = len(messages) - len(failures)
        click.echo(f"webhook {masked_url(url)}: {delivered} of {len(messages)} messages delivered")
        if failures:
            raise click.ClickException(
                f"webhook {masked_url(url)}: {len(failures)} message(s) not delivered "
                f"({failures[0]}); the files are written"
            )


def post_each(
    url: str, messages: list[dict[str, Any]], retry: RetryPolicy | None = None
) -> list[str]:
    """POST each message to `url` in order, retrying as alerts do; the errors of those that failed.

    A command waits for its messages, so it tries each 3 times by default
    rather than the alert worker's 6. Errors show the URL masked: it holds
    the webhook's token.
    """
    import asyncio
    import random

    import aiohttp
    import msgspec

    from pipeline.slipups.alerts import RetryPolicy, deliver, json_poster

    retry = retry or RetryPolicy(max_attempts=3)
    rng = random.Random()

    async def post_all() -> list[str]:
        timeout = aiohttp.ClientTimeout(total=retry.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            post = json_poster(session)
            outcomes = [
                await deliver(post, url, msgspec.json.encode(message), retry, rng)
                for message in messages
            ]
        return [outcome.error for outcome in outcomes if not outcome.ok]

    return asyncio.run(post_all())
