"""The Kafka side of `chorus connect`: events to chorus.raw, checkpoints in chorus.connector_state.

`KafkaCheckpoints` reads the compacted topic whole when it opens (a few keys
per account, and the follower lists) and writes each change with acks from
every in-sync replica before returning: a checkpoint is saved only once it is
durable, after the events it vouches for (`pipeline.sources.run`). A value
larger than one part (a big follower list) is written as parts under keys of
their own, then a head naming them; the parts of the value it replaces are
deleted after the head, so a reader never finds a head without its parts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaProducer

from agents.kafka.producer import open_producer, partition_of
from agents.kafka.replay import read_whole
from pipeline.ingest import raw_key
from pipeline.settings import Settings
from schemas.events import Event, encoder

PART_BYTES = 1 << 20
_WHOLE, _PARTS = b"\x01", b"\x02"  # the first byte of a stored value: what follows


class _Parts(msgspec.Struct, frozen=True):
    digest: str
    count: int


class KafkaCheckpoints:
    """A connector's checkpoints on the compacted chorus.connector_state (open with `load`)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._values: dict[str, bytes] = {}

    async def load(self, settings: Settings) -> None:
        """Read the topic from its start to its end: the latest value of every key."""
        async for message in read_whole(settings, self._topic):
            key = message.key.decode() if message.key is not None else ""
            if message.value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = message.value

    def get(self, key: str) -> bytes | None:
        stored = self._values.get(key)
        if stored is None or stored[:1] == _WHOLE:
            return None if stored is None else stored[1:]
        parts = msgspec.msgpack.decode(stored[1:], type=_Parts)
        data = b"".join(self._values[self._part_key(key, parts, i)] for i in range(parts.count))
        if hashlib.sha256(data).hexdigest() != parts.digest:
            raise RuntimeError(f"checkpoint {key!r}: its parts do not match their digest")
        return data

    async def put(self, key: str, value: bytes | None) -> None:
        old = self._values.get(key)
        if value is None:
            await self._write(key, None)
        elif len(value) < PART_BYTES:
            await self._write(key, _WHOLE + value)
        else:
            parts = _Parts(hashlib.sha256(value).hexdigest(), -(-len(value) // PART_BYTES))
            for i in range(parts.count):
                chunk = value[i * PART_BYTES : (i + 1) * PART_BYTES]
                await self._write(self._part_key(key, parts, i), chunk)
            await self._write(key, _PARTS + msgspec.msgpack.encode(parts))
        if old is not None and old[:1] == _PARTS:
            replaced = msgspec.msgpack.decode(old[1:], type=_Parts)
            if self._values.get(key) != old:
                for i in range(replaced.count):
                    await self._write(self._part_key(key, replaced, i), None)

    @staticmethod
    def _part_key(key: str, parts: _Parts, i: int) -> str:
        return f"{key}#{parts.digest[:16]}/{i}"

    async def _write(self, key: str, value: bytes | None) -> None:
        await self._producer.send_and_wait(self._topic, value, key=key.encode())
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value


class KafkaEventOutput:
    """Events to chorus.raw as JSON, keyed and partitioned as every Chorus producer does."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions = 0

    async def send(self, events: Sequence[Event]) -> None:
        if not self._partitions:
            self._partitions = len(await self._producer.partitions_for(self._topic))
        deliveries = []
        for event in events:
            value = encoder.encode(event)
            key = raw_key(value)
            partition = None if key is None else partition_of(key, self._partitions)
            deliveries.append(
                await self._producer.send(self._topic, value, key=key, partition=partition)
            )
        await asyncio.gather(*deliveries)


async def open_connector_io(
    settings: Settings,
) -> tuple[AIOKafkaProducer, KafkaEventOutput, KafkaCheckpoints]:
    """A started producer, the output to chorus.raw and the loaded checkpoints (stop the producer)."""
    producer = open_producer(settings, linger_ms=5)
    await producer.start()
    try:
        checkpoints = KafkaCheckpoints(producer, settings.topic("connector_state"))
        await checkpoints.load(settings)
    except BaseException:
        await producer.stop()
        raise
    return producer, KafkaEventOutput(producer, settings.topic("raw")), checkpoints
