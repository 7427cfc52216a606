"""agents.KafkaOutput without a broker: micro-batches per partition, and one output shared by several agents."""

from __future__ import annotations

import asyncio
import zlib

from agents import KafkaOutput
from pipeline.settings import Settings


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


def output_on(broker: Broker) -> KafkaOutput:
    output = KafkaOutput(Settings(), max_records=2)
    output._producer = broker  # type: ignore[assignment]
    return output


def test_records_go_to_their_keys_partition_in_micro_batches() -> None:
    async def scenario() -> list[tuple[str, int, bytes]]:
        broker = Broker()
        broker.metadata.set()
        output = output_on(broker)
        for value in (b"a", b"b", b"c"):
            output.add("wide", b"key", value)
        output.add("narrow", None, b"d")
        sending = asyncio.ensure_future(output.flush())
        await asyncio.sleep(0)
        broker.deliver()
        await sending
        return broker.sent

    partition = zlib.crc32(b"key") % 4
    assert asyncio.run(scenario()) == [
        ("wide", partition, b"a\nb"),
        ("wide", partition, b"c"),
        ("narrow", 0, b"d"),
    ]


def test_a_flush_waits_for_what_another_agents_send_took_of_its_records() -> None:
    """Agents of a worker share an output: what one adds may leave with another's send."""

    async def scenario() -> None:
        broker = Broker()
        output = output_on(broker)
        output.add("wide", b"k1", b"first")
        first = asyncio.ensure_future(output.flush())
        await asyncio.sleep(0)  # the first send waits for the topic's metadata
        output.add("narrow", b"k2", b"second")  # a new topic while the first send is busy
        second = asyncio.ensure_future(output.flush())
        broker.metadata.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert [value for _, _, value in broker.sent] == [b"first", b"second"]
        assert not first.done() and not second.done()  # neither before the broker has both
        broker.deliver()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
