-- The communications team's review (docs/review.md): every action on a flag,
-- append-only, and the views the workspace, the digests and analysts read.
-- Written for ClickHouse 18.16 and current ClickHouse alike (see 0009).
--
-- Idempotency key: action_id. The sorting key is the flag, its version and the
-- action, so a replayed action collapses on merge; views read with FINAL.
-- A refused action (the flag had moved on) is kept with its reason: nothing a
-- reviewer wrote is lost. A flag nobody acted on yet has no row: it is open.
CREATE TABLE IF NOT EXISTS review_actions (
    action_id String,
    flag_id String,
    flag_kind Enum8('flag' = 1, 'spot_check' = 2),
    post_id String,
    employee_id String,
    rule String,
    category String,
    action Enum8(
        'claim' = 1, 'coach' = 2, 'dismiss' = 3, 'escalate' = 4, 'reopen' = 5,
        'fine' = 6, 'missed' = 7
    ),
    outcome Enum8('applied' = 1, 'refused' = 2),
    status Enum8(
        'open' = 1, 'claimed' = 2, 'coached' = 3, 'dismissed' = 4, 'escalated' = 5,
        'fine' = 6, 'missed' = 7
    ),
    version UInt32,
    reason String,
    note String,
    refused_because String,
    reviewer String,
    occurred_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (flag_id, version, action_id);

-- Each flag's current state: its last applied action.
CREATE VIEW IF NOT EXISTS review_status AS
SELECT
    flag_id,
    flag_kind,
    post_id,
    employee_id,
    rule,
    category,
    status,
    reason,
    reviewer,
    last_version AS version,
    updated_at
FROM (
    SELECT
        flag_id,
        any(flag_kind) AS flag_kind,
        any(post_id) AS post_id,
        any(employee_id) AS employee_id,
        any(rule) AS rule,
        argMax(category, version) AS category,
        toString(argMax(status, version)) AS status,
        argMax(reason, version) AS reason,
        argMax(reviewer, version) AS reviewer,
        max(version) AS last_version,
        max(occurred_at) AS updated_at
    FROM review_actions FINAL
    WHERE outcome = 'applied'
    GROUP BY flag_id
);

-- Per rule: what it flagged and what reviewers found. Precision is the share of
-- reviewed flags not dismissed as false positives ("not an issue" is the rule
-- right about a harmless post); its 95 % interval is in the workspace.
CREATE VIEW IF NOT EXISTS review_precision AS
SELECT
    rule,
    category,
    flags,
    reviewed,
    false_positives,
    not_an_issue,
    coached,
    escalated,
    if(reviewed > 0, 1 - false_positives / reviewed, nan) AS precision
FROM (
    SELECT
        rule,
        category,
        count() AS flags,
        countIf(status IN ('coached', 'dismissed', 'escalated')) AS reviewed,
        countIf(status = 'dismissed' AND reason = 'false_positive') AS false_positives,
        countIf(status = 'dismissed' AND reason = 'not_an_issue') AS not_an_issue,
        countIf(status = 'coached') AS coached,
        countIf(status = 'escalated') AS escalated
    FROM (
        SELECT slipup_id AS flag_id, rule, category
        FROM slipups FINAL
    ) AS f
    ANY LEFT JOIN (
        SELECT flag_id, status, reason
        FROM review_status
    ) AS r USING flag_id
    GROUP BY rule, category
);

-- Spot checks (unflagged posts sampled for review) by what reviewers found:
-- category "" counts the posts found fine, each other category the slip-ups
-- of that category the policy missed. Recall is estimated from these.
CREATE VIEW IF NOT EXISTS review_spot_checks AS
SELECT
    category,
    countIf(status = 'fine') AS fine,
    countIf(status = 'missed') AS missed
FROM review_status
WHERE flag_kind = 'spot_check' AND status IN ('fine', 'missed')
GROUP BY category;
