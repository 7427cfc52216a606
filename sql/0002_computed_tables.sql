-- What Chorus computes: slip-up flags, alert state changes and the audience
-- snapshots (chorus.metrics), one table per record type.
--
-- Idempotency keys: slipup_id, alert_id, and (snapshot_id, scope/employee/
-- rank/campaign) for snapshot rows. Each sorting key is that key plus values
-- the key determines (the post's time, the snapshot's time), so replayed
-- copies collapse on merge; views read with FINAL until then.

-- Version flagged_at: when the monitor flags a post again (a replay), the
-- latest flag wins, e.g. with the department the roster knew by then.
CREATE TABLE IF NOT EXISTS slipups (
    slipup_id String,
    post_id String,
    event_id String,
    occurred_at DateTime('UTC'),
    flagged_at DateTime('UTC'),
    employee_id String,
    department String,
    region String,
    network String,
    rule String,
    category String,
    severity Enum8('low' = 1, 'medium' = 2, 'high' = 3, 'critical' = 4),
    excerpt String,
    hint String
) ENGINE = ReplacingMergeTree(flagged_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, slipup_id);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    incident_id String,
    status Enum8('firing' = 1, 'resolved' = 2),
    scope_kind String,
    scope String,
    window_start DateTime('UTC'),
    window_end DateTime('UTC'),
    count UInt32,
    baseline Float64,
    p_value Float64,
    opened_at DateTime('UTC'),
    summary String
) ENGINE = ReplacingMergeTree()
ORDER BY (incident_id, alert_id);

CREATE TABLE IF NOT EXISTS community_scopes (
    snapshot_id String,
    taken_at DateTime('UTC'),
    scope_kind String,
    scope String,
    employees UInt32,
    naive_reach UInt64,
    distinct_accounts UInt64,
    distinct_persons UInt64,
    estimated_persons Float64,
    ci_low Float64,
    ci_high Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(taken_at)
ORDER BY (scope_kind, scope, taken_at, snapshot_id);

CREATE TABLE IF NOT EXISTS employee_reach (
    snapshot_id String,
    taken_at DateTime('UTC'),
    employee_id String,
    department String,
    region String,
    naive_followers UInt64,
    followers UInt64,
    exclusive_followers UInt64,
    cluster Int32,
    overlap_employee_ids Array(String),
    overlap_persons Array(UInt64)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(taken_at)
ORDER BY (taken_at, snapshot_id, employee_id);

CREATE TABLE IF NOT EXISTS coverage_curve (
    snapshot_id String,
    taken_at DateTime('UTC'),
    rank UInt32,
    employee_id String,
    new_persons UInt64,
    cumulative_persons UInt64,
    cumulative_share Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(taken_at)
ORDER BY (taken_at, snapshot_id, rank);

CREATE TABLE IF NOT EXISTS campaign_reach (
    snapshot_id String,
    taken_at DateTime('UTC'),
    campaign_id String,
    relaying_employees UInt32,
    posts UInt64,
    naive_reach UInt64,
    distinct_persons UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(taken_at)
ORDER BY (campaign_id, taken_at, snapshot_id);
