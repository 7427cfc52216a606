"""chorus.raw -> the typed topics, or chorus.dlq with the reason.

    chorus.raw ─> RawFeed (fetched batches) ─> ingest (`pipeline.ingest.Ingestor`)
        ─┬─> chorus.employees, posts, follows, identity, engagement, account_stats
         └─> chorus.dlq (refused input: where it was, why, its bytes)

The feed (`agents.kafka.raw_feed`) commits a batch's offsets only once the
broker has every typed record and dead letter it gave, in batch order; the
agent goes on with the next batch meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import faust

from agents.kafka.output import KafkaOutput
from agents.kafka.raw_feed import RawBatch, RawFeed, holder_weight
from pipeline.ingest import Accepted, Ingestor, pseudonymiser_from_env
from pipeline.observability import DEAD_LETTERS, RECORDS_IN
from pipeline.topology import TOPICS
from schemas.dead_letter import dead_letter

if TYPE_CHECKING:
    from pipeline.settings import Settings


def register(app: faust.App, topics: Mapping[str, faust.TopicT], settings: Settings) -> None:
    ingestor = Ingestor(pseudonymiser_from_env(settings.environment))
    output = KafkaOutput(settings)
    raw, dlq = settings.topic("raw"), settings.topic("dlq")
    fetched = app.channel(maxsize=2)  # backpressure: the feed reads ahead by two batches
    feed = RawFeed(settings, fetched, holder_weight(app, settings))
    # A worker that also reads topics through faust's group learns its weight from it.
    reads_topics = any(settings.runs(group) for group in ("audience", "sink", "monitor"))
    full_name = {topic.name: settings.topic(topic.name) for topic in TOPICS}  # once, not per event

    @app.task
    async def read_raw() -> None:
        await feed.keep_reading(app, wait_for_assignment=reads_topics)

    @app.agent(fetched, name="ingest")
    async def ingest(stream: faust.StreamT[RawBatch]) -> None:
        async for batch in feed.batches(stream):
            RECORDS_IN.labels(raw).inc(len(batch.records))
            outcomes = ingestor.process_batch([record.value or b"" for record in batch.records])
            for message, outcome in zip(batch.records, outcomes, strict=True):
                if isinstance(outcome, Accepted):
                    output.add(full_name[outcome.route], outcome.key, outcome.event)
                else:
                    DEAD_LETTERS.labels(outcome.reason.value).inc()
                    letter = dead_letter(
                        message.topic,
                        message.partition,
                        message.offset,
                        message.value or b"",
                        outcome.reason.value,
                        outcome.message,
                    )
                    output.add(dlq, None, letter)
            await feed.written(batch, await output.send())
