-- One layout for every rejected input, whoever rejected it (ingest: the reasons
-- of pipeline.ingest.Reason; the sink: sink_decode). `raw` holds the original
-- bytes as they were. The key is the input's position in Kafka, so a replay
-- of the same message collapses; failed_at (the version) keeps the latest.
CREATE TABLE IF NOT EXISTS dead_letters (
    topic String,
    partition UInt32,
    offset UInt64,
    raw String,
    reason String,
    message String,
    failed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(failed_at)
ORDER BY (topic, partition, offset);
