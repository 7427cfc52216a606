"""In-memory stand-ins for a connector's output and checkpoints, and a kill switch.

The connectors' unit tests run them against loopback servers speaking each
network's API and collect what they send here; the end-to-end test uses the
real Kafka ones (agents/kafka/connectors.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from pipeline.sources.run import Connection
from schemas.events import Event
from tests.support import free_port


class Killed(BaseException):
    """The connector process 'died' here (raised by MemoryOutput after `kill_after` events).

    A BaseException, like the KeyboardInterrupt or cancellation that ends a real
    process: a connector's per-account isolation does not catch it.
    """


@dataclass
class MemoryOutput:
    events: list[Event] = field(default_factory=list)
    kill_after: int | None = None  # raise Killed once this many events are out

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            if self.kill_after is not None and len(self.events) >= self.kill_after:
                raise Killed
            self.events.append(event)

    def ids(self) -> list[str]:
        return [event.event_id for event in self.events]


@dataclass
class MemoryCheckpoints:
    values: dict[str, bytes] = field(default_factory=dict)

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    async def put(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


def connection(
    network: str,
    output: MemoryOutput | None = None,
    checkpoints: MemoryCheckpoints | None = None,
    at: datetime = datetime(2026, 12, 1, tzinfo=UTC),
) -> Connection:
    """A Connection to memory with a fixed clock (so reruns are comparable)."""
    return Connection(
        network,
        output if output is not None else MemoryOutput(),
        checkpoints if checkpoints is not None else MemoryCheckpoints(),
        now=lambda: at,
    )


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 in the running event loop; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
