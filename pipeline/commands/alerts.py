"""`chorus alerts`: recent slip-up incidents."""

from __future__ import annotations

import click


@click.group("alerts")
def group() -> None:
    """Recent slip-up incidents."""
