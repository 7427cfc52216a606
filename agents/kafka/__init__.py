"""The Kafka wing: the only code that touches Kafka clients and faust internals.

Agents (`agents/*.py`) read topics through `batches` and write through
`KafkaOutput`; everything that works around a faust or aiokafka behaviour
lives here, each module saying which behaviour, what it guarantees and which
test shows it:

- `batches` + `ledger`: in-order, explicit acks (an offset is committed only
  after its output is stored, and never over an offset that was not processed);
- `output`: micro-batches of records as columns, written before the input is acked;
- `records`: decoding those micro-batches, a bad message skipped alone;
- `replay`: reading a kept-for-ever topic from its start, to rebuild a state;
- `raw_feed`: chorus.raw in fetched batches, shared among workers by weight;
- `producer`: batched, idempotent producing of lines (`chorus ingest`);
- `admin` and `lag`: creating the topics from `pipeline.topology`, and how far
  the consumer groups are behind.
"""
