"""Connectors: employees' accounts on real networks, turned into Chorus events on chorus.raw.

Each network module reads what its network gives (an API, a firehose, a
member's data export) and yields contract events (`schemas.events`) with
deterministic `event_id`s, so that a re-run, an overlap or a resume after a
crash never counts anything twice. They know nothing of Kafka: they write
through an `Output` and keep their place in `Checkpoints` (`run.py`); the
Kafka side of both is `agents/kafka/connectors.py`. docs/sources.md is the
user's guide.
"""
