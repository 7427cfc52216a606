"""agents.kafka.output.KafkaOutput without a broker: micro-batches per partition, one output shared by several agents; and reading them back."""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime

import msgspec
import pytest

from agents.kafka.output import KafkaOutput
from agents.kafka.records import decoded
from pipeline.settings import Settings
from schemas import columnar
from schemas.columnar import BatchDecoder
from schemas.dead_letter import DeadLetter
from schemas.events import Follow


def follow(event_id: str) -> Follow:
    return Follow(event_id=event_id, occurred_at=datetime(2026, 3, 2, tzinfo=UTC), network="x",
                  account_id="@a", follower_id="p1", action="follow")  # fmt: skip


def letter(offset: int) -> DeadLetter:
    return DeadLetter(topic="chorus.raw", partition=0, offset=offset, raw=b"?", size=1, digest="",
                      reason="not_json", message="", failed_at=datetime(2026, 3, 2, tzinfo=UTC))  # fmt: skip


def event_ids(message: bytes) -> list[str]:
    ids: list[str] = msgspec.json.decode(message)["event_id"]
    return ids


class Broker:
    """The part of AIOKafkaProducer the output uses; deliveries complete when the test says."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes]] = []
        self.deliveries: list[asyncio.Future[None]] = []
        self.metadata = asyncio.Event()  # partitions_for answers once set

    async def partitions_for(self, topic: str) -> set[int]:
        await self.metadata.wait()
        return set(range(4)) if topic == "wide" else {0}

    async def send(self, topic: str, value: bytes, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, value))
        delivery = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery

    def deliver(self) -> None:
        for delivery in self.deliveries:
            if not delivery.done():
                delivery.set_result(None)


def output_on(broker: Broker, max_bytes: int = 512 * 1024) -> KafkaOutput:
    output = KafkaOutput(Settings(), max_records=2, max_bytes=max_bytes)
    output._producer = broker  # type: ignore[assignment]
    return output


async def flushed(output: KafkaOutput, broker: Broker) -> list[tuple[str, int, bytes]]:
    broker.metadata.set()
    sending = asyncio.ensure_future(output.flush())
    await asyncio.sleep(0)
    broker.deliver()
    await sending
    return broker.sent


def test_records_go_to_their_keys_partition_in_micro_batches() -> None:
    async def scenario() -> list[tuple[str, int, list[str]]]:
        broker = Broker()
        output = output_on(broker)
        for event_id in ("a", "b", "c"):
            output.add("wide", b"key", follow(event_id))
        output.add("narrow", None, follow("d"))
        return [(t, p, event_ids(m)) for t, p, m in await flushed(output, broker)]

    partition = zlib.crc32(b"key") % 4
    assert asyncio.run(scenario()) == [
        ("wide", partition, ["a", "b"]),
        ("wide", partition, ["c"]),
        ("narrow", 0, ["d"]),
    ]


def test_a_message_holds_one_type_and_the_order_of_add_holds() -> None:
    async def scenario() -> list[tuple[str, list[int]]]:
        broker = Broker()
        output = output_on(broker)
        for record in (letter(1), follow("a"), letter(2)):
            output.add("narrow", None, record)
        return [(msgspec.json.decode(m).get("type", ""), msgspec.json.decode(m).get("offset", []))
                for _, _, m in await flushed(output, broker)]  # fmt: skip

    assert asyncio.run(scenario()) == [("", [1]), ("follow", []), ("", [2])]


def test_a_message_over_max_bytes_is_halved_until_it_fits() -> None:
    async def scenario() -> list[list[str]]:
        broker = Broker()
        output = output_on(broker, max_bytes=len(msgspec.json.encode(follow("a"))) + 50)
        output.max_records = 4
        for event_id in "abcd":
            output.add("narrow", None, follow(event_id))
        return [event_ids(m) for _, _, m in await flushed(output, broker)]

    assert asyncio.run(scenario()) == [["a"], ["b"], ["c"], ["d"]]


def test_a_flush_waits_for_what_another_agents_send_took_of_its_records() -> None:
    """Agents of a worker share an output: what one adds may leave with another's send."""

    async def scenario() -> None:
        broker = Broker()
        output = output_on(broker)
        output.add("wide", b"k1", follow("first"))
        first = asyncio.ensure_future(output.flush())
        await asyncio.sleep(0)  # the first send waits for the topic's metadata
        output.add("narrow", b"k2", follow("second"))  # a new topic while the first send is busy
        second = asyncio.ensure_future(output.flush())
        broker.metadata.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert [event_ids(value) for _, _, value in broker.sent] == [["first"], ["second"]]
        assert not first.done() and not second.done()  # neither before the broker has both
        broker.deliver()
        await asyncio.gather(first, second)

    asyncio.run(scenario())


class Message:
    def __init__(self, value: bytes, offset: int) -> None:
        self.value, self.topic, self.partition, self.offset = value, "chorus.follows", 0, offset


class Event:
    def __init__(self, value: bytes, offset: int) -> None:
        self.message = Message(value, offset)


def test_an_agent_reading_records_skips_a_message_that_does_not_decode_and_says_where(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = [
        Event(columnar.encode([follow("a"), follow("b")]), 7),
        Event(b'{"type": "follow", "event_id": 1}', 8),
        Event(columnar.encode([follow("c")]), 9),
    ]
    records = decoded(events, BatchDecoder(Follow))  # type: ignore[arg-type]
    assert [r.event_id for r in records] == ["a", "b", "c"]
    assert "chorus.follows[0]@8 does not decode, 0 records saved" in caplog.text
