"""chorus.raw -> the typed topics, or chorus.dlq with the reason.

Batches of raw events go through `pipeline.ingest.Ingestor`; the results are
written and flushed, and only then are the raw events acked, so an offset is
committed only once its typed event or dead letter is in Kafka.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import faust

from agents import KafkaOutput, batches
from pipeline.ingest import Accepted, Ingestor, pseudonymiser_from_env
from pipeline.observability import DEAD_LETTERS, RECORDS_IN
from schemas import dead_letter, events
from schemas.dead_letter import DeadLetter

if TYPE_CHECKING:
    from pipeline.app import Topics
    from pipeline.settings import Settings

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    ingestor = Ingestor(pseudonymiser_from_env(settings.environment))
    output = KafkaOutput(settings)
    encode_event = events.encoder.encode
    encode_dead_letter = dead_letter.encoder.encode

    @app.agent(topics.raw, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        async for batch in batches(stream, settings):
            RECORDS_IN.labels(topics.raw.get_topic_name()).inc(len(batch))
            outcomes = ingestor.process_batch([event.message.value or b"" for event in batch])
            for event, outcome in zip(batch, outcomes, strict=True):
                message = event.message
                if isinstance(outcome, Accepted):
                    target = topics.typed(outcome.route).get_topic_name()
                    key, value = outcome.key, encode_event(outcome.event)
                else:
                    target = topics.dlq.get_topic_name()
                    key = None
                    DEAD_LETTERS.labels(outcome.reason.value).inc()
                    value = encode_dead_letter(
                        DeadLetter(
                            topic=message.topic,
                            partition=message.partition,
                            offset=message.offset,
                            raw=message.value or b"",
                            reason=outcome.reason.value,
                            message=outcome.message,
                            failed_at=datetime.now(UTC),
                        )
                    )
                await output.add(target, key, value)
            await output.flush()  # raises if Kafka refused a write: the batch is not acked
            await batch.ack()
