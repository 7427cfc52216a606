-- Roll-ups the dashboards read often, kept current by materialized views.
--
-- A materialized view sees every inserted block, replayed copies included,
-- so the targets hold uniqExact *states* of the idempotency key, not counts:
-- merging states counts each event once however often it arrived. Read them
-- through the views of 0005 (daily_activity, hourly_slipups), which finish
-- the states. The views only see rows inserted after they exist.

CREATE TABLE IF NOT EXISTS daily_posts_state (
    day Date,
    employee_id String,
    posts_state AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, employee_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_posts_mv TO daily_posts_state AS
SELECT
    toDate(occurred_at) AS day,
    employee_id,
    uniqExactState(event_id) AS posts_state
FROM posts
GROUP BY day, employee_id;

CREATE TABLE IF NOT EXISTS daily_engagement_state (
    day Date,
    post_id String,
    kind Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4),
    engagements_state AggregateFunction(uniqExact, String),
    actors_state AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, post_id, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_engagement_mv TO daily_engagement_state AS
SELECT
    toDate(occurred_at) AS day,
    post_id,
    kind,
    uniqExactState(event_id) AS engagements_state,
    uniqExactState(actor_id) AS actors_state
FROM engagements
GROUP BY day, post_id, kind;

-- Department and category as the monitor flagged them.
CREATE TABLE IF NOT EXISTS hourly_slipups_state (
    hour DateTime('UTC'),
    department String,
    category String,
    slipups_state AggregateFunction(uniqExact, String),
    flagged_posts_state AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, department, category);

CREATE MATERIALIZED VIEW IF NOT EXISTS hourly_slipups_mv TO hourly_slipups_state AS
SELECT
    toStartOfHour(occurred_at) AS hour,
    department,
    category,
    uniqExactState(slipup_id) AS slipups_state,
    uniqExactState(post_id) AS flagged_posts_state
FROM slipups
GROUP BY hour, department, category;
