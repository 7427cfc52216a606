-- The typed topics, one table each, one row per event.
--
-- Kafka delivers at least once, so a replay inserts an event again: every
-- table is a ReplacingMergeTree whose sorting key ends with event_id and
-- otherwise holds only values the event itself fixes, so copies of one event
-- share a key and collapse when parts merge. Until then, read with FINAL,
-- uniqExact(event_id) or argMax: the analyst views do.
-- Times are DateTime('UTC'), whole seconds (ClickHouse 18.16 has no DateTime64).
-- Optional strings are '' when absent.

CREATE TABLE IF NOT EXISTS employees (
    event_id String,
    occurred_at DateTime('UTC'),
    employee_id String,
    department String,
    region String,
    active UInt8,
    account_networks Array(String),
    account_ids Array(String),
    account_pseudonyms Array(String)
) ENGINE = ReplacingMergeTree()
ORDER BY (employee_id, occurred_at, event_id);

CREATE TABLE IF NOT EXISTS posts (
    event_id String,
    occurred_at DateTime('UTC'),
    post_id String,
    employee_id String,
    network String,
    account_id String,
    text String,
    lang String,
    url String,
    campaign_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (employee_id, occurred_at, event_id);

CREATE TABLE IF NOT EXISTS follows (
    event_id String,
    occurred_at DateTime('UTC'),
    network String,
    account_id String,
    follower_id String,
    action Enum8('follow' = 1, 'unfollow' = 2)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network, account_id, follower_id, occurred_at, event_id);

CREATE TABLE IF NOT EXISTS identity_links (
    event_id String,
    occurred_at DateTime('UTC'),
    network_a String,
    account_a String,
    network_b String,
    account_b String,
    evidence String,
    confidence Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network_a, account_a, occurred_at, event_id);

CREATE TABLE IF NOT EXISTS engagements (
    event_id String,
    occurred_at DateTime('UTC'),
    post_id String,
    network String,
    actor_id String,
    kind Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (post_id, occurred_at, event_id);

CREATE TABLE IF NOT EXISTS account_stats (
    event_id String,
    occurred_at DateTime('UTC'),
    network String,
    account_id String,
    followers_count UInt64,
    has_sample UInt8,
    follower_sample Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network, account_id, occurred_at, event_id);
