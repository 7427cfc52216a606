"""`chorus policy`: try posts against the slip-up policy; validate a policy file."""

from __future__ import annotations

import click


@click.group("policy")
def group() -> None:
    """Try posts against the slip-up policy; validate a policy file."""
