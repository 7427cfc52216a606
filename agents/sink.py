"""Every typed and computed topic -> its ClickHouse table, through `pipeline.sink.Sink`.

One agent per topic. Each takes a batch of messages without acking it
(`noack_take`), hands their records (every topic Chorus writes carries
micro-batches, see `agents.KafkaOutput`) to its sink, waits for the flush, and
only then acks: a failed insert never moves an offset. While ClickHouse is
down the flush does not return, so the agent reads no further (backpressure)
and resumes by itself.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import faust
import msgspec

from agents import batches, payloads
from pipeline import warehouse
from pipeline.sink import Outage, Sink
from schemas import dead_letter, events, metrics, slipups

if TYPE_CHECKING:
    from pipeline.app import Topics
    from pipeline.settings import Settings

# Topic (a field of `Topics`) -> the decoder of its payloads.
SOURCES: dict[str, msgspec.json.Decoder[Any]] = {
    "employees": events.decoder_for(events.Employee),
    "posts": events.decoder_for(events.Post),
    "follows": events.decoder_for(events.Follow),
    "identity": events.decoder_for(events.IdentityLink),
    "engagement": events.decoder_for(events.Engagement),
    "account_stats": events.decoder_for(events.AccountStats),
    "slipups": slipups.slipup_decoder,
    "alerts": slipups.alert_decoder,
    "metrics": metrics.decoder,
    "dlq": dead_letter.decoder,
}


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    outage = Outage()  # shared: one log line per outage, not one per sink
    for source, decoder in SOURCES.items():
        _register(app, getattr(topics, source), source, decoder, settings, outage)


def _register(
    app: faust.App,
    topic: faust.TopicT,
    source: str,
    decoder: msgspec.json.Decoder[Any],
    settings: Settings,
    outage: Outage,
) -> None:
    async def sink(stream: faust.StreamT) -> None:
        # One connection per agent: clickhouse-driver clients are not thread-safe.
        insert = partial(warehouse.insert, warehouse.client(settings))
        writer = Sink(
            source,
            decoder,
            insert,
            max_rows=settings.batch_rows,
            max_seconds=settings.batch_seconds,
            outage=outage,
        )
        # A message holds up to 1,000 records: take fewer messages than rows.
        async for batch in batches(stream, settings, max(1, settings.batch_rows // 100)):
            for event, record in payloads(batch):
                message = event.message
                writer.add(record, message.topic, message.partition, message.offset)
            await writer.flush()
            for event in batch:
                await stream.ack(event)

    app.agent(topic, name=f"sink_{source}")(sink)
