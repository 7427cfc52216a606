"""Every typed and computed topic -> its ClickHouse table, through `pipeline.sink.Sink`.

One agent per topic. Each takes a batch of messages without acking it
(`noack_take`) and hands each message's records (every topic Chorus writes
carries micro-batches, see `schemas.columnar`) to its sink; whenever the sink
has a full batch, and at the end of the taken ones, it submits them with the
acks of their messages, which the sink calls only once they are in ClickHouse,
in order: a failed insert never moves an offset. While ClickHouse is down
`submit` does not return, so the agent reads no further (backpressure) and
resumes by itself.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import faust
from faust.types import EventT

from agents import batches
from pipeline import warehouse
from pipeline.sink import Outage, Sink
from schemas import dead_letter, events, metrics, slipups
from schemas.columnar import BatchDecoder

if TYPE_CHECKING:
    from pipeline.app import Topics
    from pipeline.settings import Settings

# Topic (a field of `Topics`) -> the decoder of its records.
SOURCES: dict[str, BatchDecoder[Any]] = {
    "employees": BatchDecoder(events.Employee),
    "posts": BatchDecoder(events.Post),
    "follows": BatchDecoder(events.Follow),
    "identity": BatchDecoder(events.IdentityLink),
    "engagement": BatchDecoder(events.Engagement),
    "account_stats": BatchDecoder(events.AccountStats),
    "slipups": slipups.slipup_decoder,
    "alerts": slipups.alert_decoder,
    "metrics": metrics.decoder,
    "dlq": dead_letter.decoder,
    "alert_deliveries": slipups.delivery_decoder,
}


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    outage = Outage()  # shared: one log line per outage, not one per sink
    for source, decoder in SOURCES.items():
        _register(app, getattr(topics, source), source, decoder, settings, outage)


def _register(
    app: faust.App,
    topic: faust.TopicT,
    source: str,
    decoder: BatchDecoder[Any],
    settings: Settings,
    outage: Outage,
) -> None:
    async def sink(stream: faust.StreamT) -> None:
        # One connection per agent: clickhouse-driver clients are not thread-safe.
        insert = partial(warehouse.insert_columns, warehouse.client(settings))
        writer = Sink(
            source,
            decoder,
            insert,
            max_rows=settings.insert_rows,
            max_seconds=settings.batch_seconds,
            outage=outage,
        )
        try:
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
        finally:
            await writer.close()  # batches still in flight are not acked: they come again

    app.agent(topic, name=f"sink_{source}")(sink)
