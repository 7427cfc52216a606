-- Every webhook delivery of an alert, as it ended: delivered, or failed after
-- its retries. An alert whose webhook was down is recorded here, never lost
-- silently. status 0: no HTTP answer came (connection refused, timeout).
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id String,
    url String,
    ok UInt8,
    attempts UInt16,
    status UInt16,
    error String,
    finished_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(finished_at)
ORDER BY (alert_id, url, finished_at);
