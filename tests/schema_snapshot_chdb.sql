CREATE TABLE account_persons
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `account` String,
    `person` String,
    `colleague` UInt8
)
ENGINE = ReplacingMergeTree
ORDER BY (account, taken_at, snapshot_id)
SETTINGS index_granularity = 8192;

CREATE VIEW account_persons_current
(
    `account` String,
    `person` String,
    `colleague` UInt8
)
AS SELECT
    account,
    argMax(person, (taken_at, snapshot_id)) AS person,
    argMax(colleague, (taken_at, snapshot_id)) AS colleague
FROM account_persons
GROUP BY account;

CREATE TABLE account_stats
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `network` String,
    `account_id` String,
    `followers_count` UInt64,
    `has_sample` UInt8,
    `follower_sample` Array(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network, account_id, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE TABLE alert_deliveries
(
    `alert_id` String,
    `url` String,
    `ok` UInt8,
    `attempts` UInt16,
    `status` UInt16,
    `error` String,
    `finished_at` DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(finished_at)
ORDER BY (alert_id, url, finished_at)
SETTINGS index_granularity = 8192;

CREATE TABLE alerts
(
    `alert_id` String,
    `incident_id` String,
    `status` Enum8('firing' = 1, 'resolved' = 2),
    `scope_kind` String,
    `scope` String,
    `scopes` Array(String),
    `window_start` DateTime('UTC'),
    `window_end` DateTime('UTC'),
    `count` UInt32,
    `baseline` Float64,
    `p_value` Float64,
    `opened_at` DateTime('UTC'),
    `summary` String
)
ENGINE = ReplacingMergeTree
ORDER BY (incident_id, alert_id)
SETTINGS index_granularity = 8192;

CREATE TABLE campaign_reach
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `campaign_id` String,
    `relaying_employees` UInt32,
    `posts` UInt64,
    `naive_reach` UInt64,
    `distinct_persons` UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(taken_at)
ORDER BY (campaign_id, taken_at, snapshot_id)
SETTINGS index_granularity = 8192;

CREATE VIEW campaign_reach_latest
(
    `campaign_id` String,
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `relaying_employees` UInt32,
    `posts` UInt64,
    `naive_reach` UInt64,
    `distinct_persons` UInt64
)
AS SELECT
    campaign_id,
    snapshot_id,
    taken_at,
    relaying_employees,
    posts,
    naive_reach,
    distinct_persons
FROM campaign_reach
FINAL
WHERE (campaign_id, snapshot_id) IN (
    SELECT
        campaign_id,
        argMax(snapshot_id, (taken_at, snapshot_id))
    FROM campaign_reach
    GROUP BY campaign_id
);

CREATE VIEW comment_responses
(
    `comment_id` String,
    `commented_at` DateTime('UTC'),
    `day` Date,
    `post_id` String,
    `employee_id` String,
    `department` String,
    `region` String,
    `network` String,
    `actor_id` String,
    `answered` UInt8,
    `response_seconds` Int64
)
AS SELECT
    comment_id,
    commented_at,
    toDate(commented_at) AS day,
    post_id,
    employee_id,
    department,
    region,
    network,
    actor_id,
    countIf((replied_at > commented_at) AND (replied_at <= (commented_at + 86400))) > 0 AS answered,
    minIf(toInt64(replied_at) - toInt64(commented_at), (replied_at > commented_at) AND (replied_at <= (commented_at + 86400))) AS response_seconds
FROM
(
    SELECT
        comment_id,
        commented_at,
        post_id,
        employee_id,
        department,
        region,
        network,
        actor_id,
        replied_at
    FROM
    (
        SELECT
            event_id AS comment_id,
            occurred_at AS commented_at,
            post_id,
            employee_id,
            department,
            region,
            network,
            actor_id
        FROM engagement_persons
        WHERE (kind = 'comment') AND (NOT colleague)
    ) AS c
    ALL LEFT JOIN
    (
        SELECT
            employee_id,
            in_reply_to_author AS actor_id,
            occurred_at AS replied_at
        FROM post_conversation
        WHERE in_reply_to_author != ''
    ) AS r USING (employee_id, actor_id)
)
GROUP BY
    comment_id,
    commented_at,
    post_id,
    employee_id,
    department,
    region,
    network,
    actor_id;

CREATE VIEW community_headline
(
    `taken_at` DateTime('UTC'),
    `snapshot_id` String,
    `true_community` Float64,
    `interval_low` Float64,
    `interval_high` Float64,
    `counted_exactly` UInt64,
    `naive_reach` UInt64,
    `employees` UInt32
)
AS SELECT
    taken_at,
    snapshot_id,
    round(estimated_persons) AS true_community,
    round(ci_low) AS interval_low,
    round(ci_high) AS interval_high,
    distinct_persons AS counted_exactly,
    naive_reach,
    employees
FROM community_latest
WHERE scope_kind = 'company';

CREATE VIEW community_latest
(
    `scope_kind` String,
    `scope` String,
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `employees` UInt32,
    `naive_reach` UInt64,
    `distinct_accounts` UInt64,
    `distinct_persons` UInt64,
    `estimated_persons` Float64,
    `ci_low` Float64,
    `ci_high` Float64,
    `naive_inflation` Float64
)
AS SELECT
    scope_kind,
    scope,
    snapshot_id,
    taken_at,
    employees,
    naive_reach,
    distinct_accounts,
    distinct_persons,
    estimated_persons,
    ci_low,
    ci_high,
    if(distinct_persons = 0, 0, naive_reach / distinct_persons) AS naive_inflation
FROM community_scopes
FINAL
WHERE (scope_kind, scope, snapshot_id) IN (
    SELECT
        scope_kind,
        scope,
        argMax(snapshot_id, (taken_at, snapshot_id))
    FROM community_scopes
    GROUP BY
        scope_kind,
        scope
);

CREATE TABLE community_scopes
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `scope_kind` String,
    `scope` String,
    `employees` UInt32,
    `naive_reach` UInt64,
    `distinct_accounts` UInt64,
    `distinct_persons` UInt64,
    `estimated_persons` Float64,
    `ci_low` Float64,
    `ci_high` Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(taken_at)
ORDER BY (scope_kind, scope, taken_at, snapshot_id)
SETTINGS index_granularity = 8192;

CREATE TABLE coverage_curve
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `rank` UInt32,
    `employee_id` String,
    `new_persons` UInt64,
    `cumulative_persons` UInt64,
    `cumulative_share` Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(taken_at)
ORDER BY (taken_at, snapshot_id, rank)
SETTINGS index_granularity = 8192;

CREATE VIEW coverage_latest
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `rank` UInt32,
    `employee_id` String,
    `new_persons` UInt64,
    `cumulative_persons` UInt64,
    `cumulative_share` Float64
)
AS SELECT
    snapshot_id,
    taken_at,
    rank,
    employee_id,
    new_persons,
    cumulative_persons,
    cumulative_share
FROM coverage_curve
FINAL
WHERE snapshot_id IN (
    SELECT argMax(snapshot_id, (taken_at, snapshot_id))
    FROM coverage_curve
);

CREATE VIEW daily_activity
(
    `day` Date,
    `employee_id` String,
    `department` String,
    `posts` UInt64,
    `engagements` UInt64
)
AS SELECT
    day,
    employee_id,
    department,
    posts,
    engagements
FROM
(
    SELECT
        day,
        employee_id,
        posts,
        engagements
    FROM
    (
        SELECT
            day,
            employee_id,
            uniqExactMerge(posts_state) AS posts
        FROM daily_posts_state
        GROUP BY
            day,
            employee_id
    ) AS sent
    ALL FULL OUTER JOIN
    (
        SELECT
            day,
            employee_id,
            sum(post_engagements) AS engagements
        FROM
        (
            SELECT
                day,
                post_id,
                uniqExactMerge(engagements_state) AS post_engagements
            FROM daily_engagement_state
            GROUP BY
                day,
                post_id
        ) AS received
        ANY LEFT JOIN
        (
            SELECT
                post_id,
                any(employee_id) AS employee_id
            FROM posts
            GROUP BY post_id
        ) AS authors USING (post_id)
        GROUP BY
            day,
            employee_id
    ) AS engaged USING (day, employee_id)
) AS activity
ANY LEFT JOIN
(
    SELECT
        employee_id,
        department
    FROM employees_current
) AS roster USING (employee_id);

CREATE VIEW daily_department_activity
(
    `day` Date,
    `department` String,
    `posting_employees` UInt64,
    `posts` UInt64,
    `engagements` UInt64
)
AS SELECT
    day,
    department,
    uniqExactIf(employee_id, employee_posts > 0) AS posting_employees,
    sum(employee_posts) AS posts,
    sum(employee_engagements) AS engagements
FROM
(
    SELECT
        day,
        department,
        employee_id,
        posts AS employee_posts,
        engagements AS employee_engagements
    FROM daily_activity
) AS activity
GROUP BY
    day,
    department;

CREATE MATERIALIZED VIEW daily_engagement_mv TO daily_engagement_state
(
    `day` Date,
    `post_id` String,
    `kind` Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4),
    `engagements_state` AggregateFunction(uniqExact, String),
    `actors_state` AggregateFunction(uniqExact, String)
)
AS SELECT
    toDate(occurred_at) AS day,
    post_id,
    kind,
    uniqExactState(event_id) AS engagements_state,
    uniqExactState(actor_id) AS actors_state
FROM engagements
GROUP BY
    day,
    post_id,
    kind;

CREATE TABLE daily_engagement_state
(
    `day` Date,
    `post_id` String,
    `kind` Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4),
    `engagements_state` AggregateFunction(uniqExact, String),
    `actors_state` AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, post_id, kind)
SETTINGS index_granularity = 8192;

CREATE MATERIALIZED VIEW daily_posts_mv TO daily_posts_state
(
    `day` Date,
    `employee_id` String,
    `posts_state` AggregateFunction(uniqExact, String)
)
AS SELECT
    toDate(occurred_at) AS day,
    employee_id,
    uniqExactState(event_id) AS posts_state
FROM posts
GROUP BY
    day,
    employee_id;

CREATE TABLE daily_posts_state
(
    `day` Date,
    `employee_id` String,
    `posts_state` AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, employee_id)
SETTINGS index_granularity = 8192;

CREATE TABLE dead_letters
(
    `topic` String,
    `partition` UInt32,
    `offset` UInt64,
    `raw` String,
    `reason` String,
    `message` String,
    `failed_at` DateTime('UTC'),
    `size` UInt64 DEFAULT length(raw),
    `digest` String DEFAULT ''
)
ENGINE = ReplacingMergeTree(failed_at)
ORDER BY (topic, partition, offset)
SETTINGS index_granularity = 8192;

CREATE TABLE employee_reach
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `employee_id` String,
    `department` String,
    `region` String,
    `naive_followers` UInt64,
    `followers` UInt64,
    `exclusive_followers` UInt64,
    `cluster` Int32,
    `overlap_employee_ids` Array(String),
    `overlap_persons` Array(UInt64)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(taken_at)
ORDER BY (taken_at, snapshot_id, employee_id)
SETTINGS index_granularity = 8192;

CREATE VIEW employee_reach_latest
(
    `snapshot_id` String,
    `taken_at` DateTime('UTC'),
    `employee_id` String,
    `department` String,
    `region` String,
    `naive_followers` UInt64,
    `followers` UInt64,
    `exclusive_followers` UInt64,
    `cluster` Int32,
    `overlap_employee_ids` Array(String),
    `overlap_persons` Array(UInt64)
)
AS SELECT
    snapshot_id,
    taken_at,
    employee_id,
    department,
    region,
    naive_followers,
    followers,
    exclusive_followers,
    cluster,
    overlap_employee_ids,
    overlap_persons
FROM employee_reach
FINAL
WHERE snapshot_id IN (
    SELECT argMax(snapshot_id, (taken_at, snapshot_id))
    FROM employee_reach
);

CREATE TABLE employees
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `employee_id` String,
    `department` String,
    `region` String,
    `active` UInt8,
    `account_networks` Array(String),
    `account_ids` Array(String),
    `account_pseudonyms` Array(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (employee_id, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE VIEW employees_current
(
    `employee_id` String,
    `department` String,
    `region` String,
    `active` UInt8,
    `account_networks` Array(String),
    `account_ids` Array(String),
    `valid_from` DateTime('UTC')
)
AS SELECT
    employee_id,
    argMax(department, (occurred_at, event_id)) AS department,
    argMax(region, (occurred_at, event_id)) AS region,
    argMax(active, (occurred_at, event_id)) AS active,
    argMax(account_networks, (occurred_at, event_id)) AS account_networks,
    argMax(account_ids, (occurred_at, event_id)) AS account_ids,
    max(occurred_at) AS valid_from
FROM employees
GROUP BY employee_id;

CREATE VIEW engagement_per_post
(
    `post_id` String,
    `employee_id` String,
    `network` String,
    `posted_at` DateTime('UTC'),
    `campaign_id` String,
    `likes` UInt64,
    `shares` UInt64,
    `comments` UInt64,
    `clicks` UInt64,
    `engagements` UInt64,
    `actors` UInt64
)
AS SELECT
    post_id,
    employee_id,
    network,
    posted_at,
    campaign_id,
    likes,
    shares,
    comments,
    clicks,
    ((likes + shares) + comments) + clicks AS engagements,
    actors
FROM
(
    SELECT
        post_id,
        any(employee_id) AS employee_id,
        any(network) AS network,
        min(occurred_at) AS posted_at,
        any(campaign_id) AS campaign_id
    FROM posts
    GROUP BY post_id
) AS p
ANY LEFT JOIN
(
    SELECT
        post_id,
        uniqExactIf(event_id, kind = 'like') AS likes,
        uniqExactIf(event_id, kind = 'share') AS shares,
        uniqExactIf(event_id, kind = 'comment') AS comments,
        uniqExactIf(event_id, kind = 'click') AS clicks,
        uniqExact(actor_id) AS actors
    FROM engagements
    GROUP BY post_id
) AS e USING (post_id);

CREATE VIEW engagement_persons
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `day` Date,
    `post_id` String,
    `employee_id` String,
    `department` String,
    `region` String,
    `network` String,
    `actor_id` String,
    `kind` Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4),
    `person` String,
    `colleague` UInt8
)
AS SELECT
    event_id,
    occurred_at,
    toDate(occurred_at) AS day,
    post_id,
    employee_id,
    department,
    region,
    network,
    actor_id,
    kind,
    if(linked_person = '', actor_id, linked_person) AS person,
    (linked_colleague = 1) OR (actor_id IN (
        SELECT arrayJoin(account_pseudonyms)
        FROM employees
    )) AS colleague
FROM
(
    SELECT
        event_id,
        occurred_at,
        post_id,
        employee_id,
        department,
        region,
        network,
        actor_id,
        kind
    FROM
    (
        SELECT
            event_id,
            occurred_at,
            post_id,
            actor_id,
            kind
        FROM engagements
        FINAL
    ) AS g
    ANY LEFT JOIN
    (
        SELECT
            post_id,
            employee_id,
            department,
            region,
            network,
            1 AS employees_post
        FROM post_conversation
    ) AS p USING (post_id)
    WHERE employees_post = 1
) AS engaged
ANY LEFT JOIN
(
    SELECT
        account AS actor_id,
        person AS linked_person,
        colleague AS linked_colleague
    FROM account_persons_current
) AS a USING (actor_id);

CREATE TABLE engagements
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `post_id` String,
    `network` String,
    `actor_id` String,
    `kind` Enum8('like' = 1, 'share' = 2, 'comment' = 3, 'click' = 4)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (post_id, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE TABLE follows
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `network` String,
    `account_id` String,
    `follower_id` String,
    `action` Enum8('follow' = 1, 'unfollow' = 2)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network, account_id, follower_id, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE VIEW hourly_slipups
(
    `hour` DateTime('UTC'),
    `department` String,
    `category` String,
    `slipups` UInt64,
    `flagged_posts` UInt64
)
AS SELECT
    hour,
    department,
    category,
    uniqExactMerge(slipups_state) AS slipups,
    uniqExactMerge(flagged_posts_state) AS flagged_posts
FROM hourly_slipups_state
GROUP BY
    hour,
    department,
    category;

CREATE MATERIALIZED VIEW hourly_slipups_mv TO hourly_slipups_state
(
    `hour` DateTime('UTC'),
    `department` String,
    `category` String,
    `slipups_state` AggregateFunction(uniqExact, String),
    `flagged_posts_state` AggregateFunction(uniqExact, String)
)
AS SELECT
    toStartOfHour(occurred_at) AS hour,
    department,
    category,
    uniqExactState(slipup_id) AS slipups_state,
    uniqExactState(post_id) AS flagged_posts_state
FROM slipups
GROUP BY
    hour,
    department,
    category;

CREATE TABLE hourly_slipups_state
(
    `hour` DateTime('UTC'),
    `department` String,
    `category` String,
    `slipups_state` AggregateFunction(uniqExact, String),
    `flagged_posts_state` AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, department, category)
SETTINGS index_granularity = 8192;

CREATE TABLE identity_links
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `network_a` String,
    `account_a` String,
    `network_b` String,
    `account_b` String,
    `evidence` String,
    `confidence` Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (network_a, account_a, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE VIEW post_conversation
(
    `post_id` String,
    `employee_id` String,
    `department` String,
    `region` String,
    `network` String,
    `occurred_at` DateTime('UTC'),
    `day` Date,
    `kind` String,
    `in_reply_to` String,
    `in_reply_to_author` String,
    `reply_outside` UInt8
)
AS SELECT
    post_id,
    employee_id,
    department,
    region,
    network,
    occurred_at,
    day,
    kind,
    in_reply_to,
    in_reply_to_author,
    (in_reply_to_author != '') AND (in_reply_to_author NOT IN (
        SELECT arrayJoin(account_pseudonyms)
        FROM employees
    )) AND (author_colleague = 0) AS reply_outside
FROM
(
    SELECT
        post_id,
        employee_id,
        department,
        region,
        network,
        posted_at AS occurred_at,
        toDate(posted_at) AS day,
        kind,
        in_reply_to,
        in_reply_to_author
    FROM
    (
        SELECT
            post_id,
            argMax(employee_id, (occurred_at, event_id)) AS employee_id,
            argMax(network, (occurred_at, event_id)) AS network,
            min(occurred_at) AS posted_at,
            argMax(kind, (occurred_at, event_id)) AS kind,
            argMax(in_reply_to, (occurred_at, event_id)) AS in_reply_to,
            argMax(in_reply_to_author, (occurred_at, event_id)) AS in_reply_to_author
        FROM posts
        GROUP BY post_id
    ) AS p
    ANY LEFT JOIN
    (
        SELECT
            employee_id,
            department,
            region,
            1 AS on_roster
        FROM employees_current
    ) AS e USING (employee_id)
    WHERE on_roster = 1
) AS posted
ANY LEFT JOIN
(
    SELECT
        account AS in_reply_to_author,
        colleague AS author_colleague
    FROM account_persons_current
) AS a USING (in_reply_to_author);

CREATE TABLE posts
(
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `post_id` String,
    `employee_id` String,
    `network` String,
    `account_id` String,
    `text` String,
    `lang` String,
    `url` String,
    `campaign_id` String,
    `kind` String DEFAULT '',
    `in_reply_to` String DEFAULT '',
    `in_reply_to_author` String DEFAULT ''
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (employee_id, occurred_at, event_id)
SETTINGS index_granularity = 8192;

CREATE TABLE review_actions
(
    `action_id` String,
    `flag_id` String,
    `flag_kind` Enum8('flag' = 1, 'spot_check' = 2),
    `post_id` String,
    `employee_id` String,
    `rule` String,
    `category` String,
    `action` Enum8('claim' = 1, 'coach' = 2, 'dismiss' = 3, 'escalate' = 4, 'reopen' = 5, 'fine' = 6, 'missed' = 7),
    `outcome` Enum8('applied' = 1, 'refused' = 2),
    `status` Enum8('open' = 1, 'claimed' = 2, 'coached' = 3, 'dismissed' = 4, 'escalated' = 5, 'fine' = 6, 'missed' = 7),
    `version` UInt32,
    `reason` String,
    `note` String,
    `refused_because` String,
    `reviewer` String,
    `occurred_at` DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (flag_id, version, action_id)
SETTINGS index_granularity = 8192;

CREATE VIEW review_precision
(
    `rule` String,
    `category` String,
    `flags` UInt64,
    `reviewed` UInt64,
    `false_positives` UInt64,
    `not_an_issue` UInt64,
    `coached` UInt64,
    `escalated` UInt64,
    `precision` Float64
)
AS SELECT
    rule,
    category,
    flags,
    reviewed,
    false_positives,
    not_an_issue,
    coached,
    escalated,
    if(reviewed > 0, 1 - (false_positives / reviewed), nan) AS precision
FROM
(
    SELECT
        rule,
        category,
        count() AS flags,
        countIf(status IN ('coached', 'dismissed', 'escalated')) AS reviewed,
        countIf((status = 'dismissed') AND (reason = 'false_positive')) AS false_positives,
        countIf((status = 'dismissed') AND (reason = 'not_an_issue')) AS not_an_issue,
        countIf(status = 'coached') AS coached,
        countIf(status = 'escalated') AS escalated
    FROM
    (
        SELECT
            slipup_id AS flag_id,
            rule,
            category
        FROM slipups
        FINAL
    ) AS f
    ANY LEFT JOIN
    (
        SELECT
            flag_id,
            status,
            reason
        FROM review_status
    ) AS r USING (flag_id)
    GROUP BY
        rule,
        category
);

CREATE VIEW review_spot_checks
(
    `category` String,
    `fine` UInt64,
    `missed` UInt64
)
AS SELECT
    category,
    countIf(status = 'fine') AS fine,
    countIf(status = 'missed') AS missed
FROM review_status
WHERE (flag_kind = 'spot_check') AND (status IN ('fine', 'missed'))
GROUP BY category;

CREATE VIEW review_status
(
    `flag_id` String,
    `flag_kind` Enum8('flag' = 1, 'spot_check' = 2),
    `post_id` String,
    `employee_id` String,
    `rule` String,
    `category` String,
    `status` String,
    `reason` String,
    `reviewer` String,
    `version` UInt32,
    `updated_at` DateTime('UTC')
)
AS SELECT
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
FROM
(
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
    FROM review_actions
    FINAL
    WHERE outcome = 'applied'
    GROUP BY flag_id
);

CREATE TABLE schema_migrations
(
    `version` UInt32,
    `name` String,
    `checksum` String,
    `applied_at` DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY version
SETTINGS index_granularity = 8192;

CREATE VIEW slipup_rate_weekly
(
    `week` Date,
    `department` String,
    `posts` UInt64,
    `flagged_posts` UInt64,
    `slipups` UInt64,
    `slipup_rate` Float64
)
AS SELECT
    week,
    department,
    sum(week_posts) AS posts,
    sum(week_flagged_posts) AS flagged_posts,
    sum(week_slipups) AS slipups,
    if(posts = 0, 0, flagged_posts / posts) AS slipup_rate
FROM
(
    SELECT
        week,
        employee_id,
        week_posts,
        week_flagged_posts,
        week_slipups
    FROM
    (
        SELECT
            toMonday(occurred_at) AS week,
            employee_id,
            uniqExact(event_id) AS week_posts
        FROM posts
        GROUP BY
            week,
            employee_id
    ) AS sent
    ALL FULL OUTER JOIN
    (
        SELECT
            toMonday(occurred_at) AS week,
            employee_id,
            uniqExact(post_id) AS week_flagged_posts,
            uniqExact(slipup_id) AS week_slipups
        FROM slipups
        GROUP BY
            week,
            employee_id
    ) AS flagged USING (week, employee_id)
) AS weekly
ANY LEFT JOIN
(
    SELECT
        employee_id,
        department
    FROM employees_current
) AS roster USING (employee_id)
GROUP BY
    week,
    department;

CREATE TABLE slipups
(
    `slipup_id` String,
    `post_id` String,
    `event_id` String,
    `occurred_at` DateTime('UTC'),
    `flagged_at` DateTime('UTC'),
    `employee_id` String,
    `department` String,
    `region` String,
    `network` String,
    `rule` String,
    `category` String,
    `severity` Enum8('low' = 1, 'medium' = 2, 'high' = 3, 'critical' = 4),
    `excerpt` String,
    `hint` String
)
ENGINE = ReplacingMergeTree(flagged_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (occurred_at, slipup_id)
SETTINGS index_granularity = 8192;
