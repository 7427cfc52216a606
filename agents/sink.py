"""Every topic with records -> its ClickHouse tables, through `pipeline.sink.Sink`.

One agent per topic (`pipeline.topology`: every topic but chorus.raw). Each
takes a batch of messages without acking it and hands each message's records
to its sink; whenever the sink has a full batch, and at the end of the taken
ones, it inserts them and then acks their messages: a failed insert never
moves an offset. While ClickHouse is down the insert does not return, so the
agent reads no further (backpressure) and resumes by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

import faust
from faust.types import EventT

from agents.kafka.batches import batches
from pipeline import warehouse
from pipeline.sink import Outage, Sink
from pipeline.topology import Topic, read_by

if TYPE_CHECKING:
    from pipeline.settings import Settings


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    outage = Outage()  # shared: one log line per outage, not one per sink
    for topic in read_by("sink"):
        _register(app, topics[topic.name], topic, settings, outage)


def _register(
    app: faust.App, stream_topic: faust.TopicT, topic: Topic, settings: Settings, outage: Outage
) -> None:
    async def sink(stream: faust.StreamT) -> None:
        # One connection per agent: clickhouse-driver clients are not thread-safe.
        insert = partial(warehouse.insert_columns, warehouse.client(settings))
        writer = Sink(
            topic.name,
            topic.decoder,
            insert,
            max_rows=settings.insert_rows,
            max_seconds=settings.batch_seconds,
            outage=outage,
        )
        # A message holds up to 1,000 records: take fewer messages than rows.
        async for batch in batches(stream, settings, max(1, settings.batch_rows // 100)):
            unacked: list[EventT] = []
            for event in batch:
                message = event.message
                unacked.append(event)
                if writer.add(
                    message.value or b"", message.topic, message.partition, message.offset
                ):
                    await writer.submit(partial(batch.ack, unacked))
                    unacked = []
            if unacked:
                await writer.submit(partial(batch.ack, unacked))

    app.agent(stream_topic, name=f"sink_{topic.name}")(sink)
