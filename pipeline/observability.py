"""The worker's Prometheus metrics, served at `/metrics` on the worker's web port.

One registry of Chorus's own series (not the process defaults of every
library), each documented in docs/operations.md. Agents count per batch, not
per event: the counters cost nothing next to the work.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS_IN = Counter(
    "chorus_records_in", "Records consumed, per topic.", ["topic"], registry=REGISTRY
)
RECORDS_OUT = Counter(
    "chorus_records_out", "Records produced, per topic.", ["topic"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "chorus_dead_letters", "Inputs refused, per reason code.", ["reason"], registry=REGISTRY
)
SINK_BATCH_ROWS = Histogram(
    "chorus_sink_batch_rows",
    "Rows per ClickHouse insert, per table.",
    ["table"],
    buckets=(10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
    registry=REGISTRY,
)
SINK_INSERT_SECONDS = Histogram(
    "chorus_sink_insert_seconds",
    "Time of a successful ClickHouse insert, per table.",
    ["table"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SINK_RETRIES = Counter(
    "chorus_sink_retries",
    "Failed ClickHouse inserts that were retried, per table.",
    ["table"],
    registry=REGISTRY,
)
REREADS = Counter(
    "chorus_partition_rereads",
    "Seeks back after offsets were skipped in delivery (agents/kafka/ledger.py), per topic.",
    ["topic"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "chorus_consumer_lag",
    "Records of each topic not yet processed by the Chorus consumer group.",
    ["topic"],
    registry=REGISTRY,
)
SNAPSHOT_SECONDS = Histogram(
    "chorus_audience_snapshot_seconds",
    "Time to compute one audience snapshot.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
    registry=REGISTRY,
)
COMMUNITY_PERSONS = Gauge(
    "chorus_community_distinct_persons",
    "Distinct persons in the live audience graph (company scope).",
    registry=REGISTRY,
)
CONNECTOR_REQUESTS = Counter(
    "chorus_connector_requests",
    "HTTP requests of `chorus connect`, per network and outcome (2xx, 4xx, 429, 5xx, timeout, error).",
    ["network", "outcome"],
    registry=REGISTRY,
)
CONNECTOR_RATE_LIMIT_WAIT = Counter(
    "chorus_connector_rate_limit_wait_seconds",
    "Seconds `chorus connect` waited for a network's rate limit to reset, per network.",
    ["network"],
    registry=REGISTRY,
)
CONNECTOR_EVENTS = Counter(
    "chorus_connector_events",
    "Events `chorus connect` sent to chorus.raw, per network and event type.",
    ["network", "type"],
    registry=REGISTRY,
)
CONNECTOR_SKIPPED = Counter(
    "chorus_connector_skipped",
    "Firehose messages `chorus connect` could not read (malformed), per network.",
    ["network"],
    registry=REGISTRY,
)
CONNECTOR_FIREHOSE_LAG = Gauge(
    "chorus_connector_firehose_lag_seconds",
    "How far the Jetstream connector is behind the firehose: now minus the last event's time_us.",
    registry=REGISTRY,
)
ALERTS = Counter(
    "chorus_alerts", "Slip-up incident alerts emitted, per status.", ["status"], registry=REGISTRY
)
ALERT_DELIVERIES = Counter(
    "chorus_alert_deliveries",
    "Webhook deliveries, per outcome (delivered or failed).",
    ["outcome"],
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    """The body and content type of a scrape (aiohttp takes the charset apart)."""
    content_type = "; ".join(
        p.strip() for p in CONTENT_TYPE_LATEST.split(";") if "charset" not in p
    )
    return generate_latest(REGISTRY), content_type
