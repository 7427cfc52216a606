"""Faust agents: each wires Chorus topics to the plain logic in `pipeline/`.

`pipeline/app.py` registers them all; read it first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, cast

import faust
from faust.types import EventT

if TYPE_CHECKING:
    from pipeline.settings import Settings


def batches(stream: faust.StreamT, settings: Settings) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events that are acked only when the agent says so.

    faust's `take()` acks in a `finally`, so a failed write would still move
    the offset; with `noack_take` the agent acks (`stream.ack(event)`) after
    its output is safely written.
    """
    return cast(faust.Stream, stream).noack_take(settings.batch_rows, within=settings.batch_seconds)
