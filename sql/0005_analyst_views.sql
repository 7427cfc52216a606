-- The analysts' layer: views with stable names, exact whatever the state of
-- background merges (FINAL, GROUP BY the idempotency key, uniqExact, argMax).
-- Joins are written so that ClickHouse 18.16 and current ClickHouse both run
-- them: one JOIN per SELECT, aliased subqueries, USING.

-- The roster as it is now: the latest version of each employee.
-- (occurred_at, event_id) orders versions; replayed copies are identical.
CREATE VIEW IF NOT EXISTS employees_current AS
SELECT
    employee_id,
    argMax(department, (occurred_at, event_id)) AS department,
    argMax(region, (occurred_at, event_id)) AS region,
    argMax(active, (occurred_at, event_id)) AS active,
    argMax(account_networks, (occurred_at, event_id)) AS account_networks,
    argMax(account_ids, (occurred_at, event_id)) AS account_ids,
    max(occurred_at) AS valid_from
FROM employees
GROUP BY employee_id;

-- The latest snapshot of each scope, the naive sum beside the true size.
CREATE VIEW IF NOT EXISTS community_latest AS
SELECT
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
FROM community_scopes FINAL
WHERE (scope_kind, scope, snapshot_id) IN (
    SELECT scope_kind, scope, argMax(snapshot_id, (taken_at, snapshot_id))
    FROM community_scopes
    GROUP BY scope_kind, scope
);

-- Every employee of the latest snapshot: who brings audience no one else reaches.
CREATE VIEW IF NOT EXISTS employee_reach_latest AS
SELECT
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
FROM employee_reach FINAL
WHERE snapshot_id IN (SELECT argMax(snapshot_id, (taken_at, snapshot_id)) FROM employee_reach);

-- The greedy coverage curve of the latest snapshot.
CREATE VIEW IF NOT EXISTS coverage_latest AS
SELECT
    snapshot_id,
    taken_at,
    rank,
    employee_id,
    new_persons,
    cumulative_persons,
    cumulative_share
FROM coverage_curve FINAL
WHERE snapshot_id IN (SELECT argMax(snapshot_id, (taken_at, snapshot_id)) FROM coverage_curve);

-- The latest reach of each campaign.
CREATE VIEW IF NOT EXISTS campaign_reach_latest AS
SELECT
    campaign_id,
    snapshot_id,
    taken_at,
    relaying_employees,
    posts,
    naive_reach,
    distinct_persons
FROM campaign_reach FINAL
WHERE (campaign_id, snapshot_id) IN (
    SELECT campaign_id, argMax(snapshot_id, (taken_at, snapshot_id))
    FROM campaign_reach
    GROUP BY campaign_id
);

-- Per post: its engagements by kind (each engagement event counted once).
CREATE VIEW IF NOT EXISTS engagement_per_post AS
SELECT
    post_id,
    employee_id,
    network,
    posted_at,
    campaign_id,
    likes,
    shares,
    comments,
    clicks,
    likes + shares + comments + clicks AS engagements,
    actors
FROM (
    SELECT
        post_id,
        any(employee_id) AS employee_id,
        any(network) AS network,
        min(occurred_at) AS posted_at,
        any(campaign_id) AS campaign_id
    FROM posts
    GROUP BY post_id
) AS p
ANY LEFT JOIN (
    SELECT
        post_id,
        uniqExactIf(event_id, kind = 'like') AS likes,
        uniqExactIf(event_id, kind = 'share') AS shares,
        uniqExactIf(event_id, kind = 'comment') AS comments,
        uniqExactIf(event_id, kind = 'click') AS clicks,
        uniqExact(actor_id) AS actors
    FROM engagements
    GROUP BY post_id
) AS e USING post_id;

-- Per day and employee: posts sent and engagements received on their posts
-- (by the day of the engagement), with the employee's current department.
CREATE VIEW IF NOT EXISTS daily_activity AS
SELECT
    day,
    employee_id,
    department,
    posts,
    engagements
FROM (
    SELECT day, employee_id, posts, engagements
    FROM (
        SELECT day, employee_id, uniqExactMerge(posts_state) AS posts
        FROM daily_posts_state
        GROUP BY day, employee_id
    ) AS sent
    ALL FULL OUTER JOIN (
        SELECT day, employee_id, sum(post_engagements) AS engagements
        FROM (
            SELECT day, post_id, uniqExactMerge(engagements_state) AS post_engagements
            FROM daily_engagement_state
            GROUP BY day, post_id
        ) AS received
        ANY LEFT JOIN (
            SELECT post_id, any(employee_id) AS employee_id
            FROM posts
            GROUP BY post_id
        ) AS authors USING post_id
        GROUP BY day, employee_id
    ) AS engaged USING day, employee_id
) AS activity
ANY LEFT JOIN (
    SELECT employee_id, department FROM employees_current
) AS roster USING employee_id;

-- Per day and department (current roster).
CREATE VIEW IF NOT EXISTS daily_department_activity AS
SELECT
    day,
    department,
    uniqExactIf(employee_id, employee_posts > 0) AS posting_employees,
    sum(employee_posts) AS posts,
    sum(employee_engagements) AS engagements
FROM (
    SELECT day, department, employee_id, posts AS employee_posts, engagements AS employee_engagements
    FROM daily_activity
) AS activity
GROUP BY day, department;

-- Slip-ups per hour, department and category, as the monitor flagged them.
CREATE VIEW IF NOT EXISTS hourly_slipups AS
SELECT
    hour,
    department,
    category,
    uniqExactMerge(slipups_state) AS slipups,
    uniqExactMerge(flagged_posts_state) AS flagged_posts
FROM hourly_slipups_state
GROUP BY hour, department, category;

-- Per ISO week (Monday, UTC) and department (current roster): the share of
-- posts that had at least one slip-up.
CREATE VIEW IF NOT EXISTS slipup_rate_weekly AS
SELECT
    week,
    department,
    sum(week_posts) AS posts,
    sum(week_flagged_posts) AS flagged_posts,
    sum(week_slipups) AS slipups,
    if(posts = 0, 0, flagged_posts / posts) AS slipup_rate
FROM (
    SELECT week, employee_id, week_posts, week_flagged_posts, week_slipups
    FROM (
        SELECT toMonday(occurred_at) AS week, employee_id, uniqExact(event_id) AS week_posts
        FROM posts
        GROUP BY week, employee_id
    ) AS sent
    ALL FULL OUTER JOIN (
        SELECT
            toMonday(occurred_at) AS week,
            employee_id,
            uniqExact(post_id) AS week_flagged_posts,
            uniqExact(slipup_id) AS week_slipups
        FROM slipups
        GROUP BY week, employee_id
    ) AS flagged USING week, employee_id
) AS weekly
ANY LEFT JOIN (
    SELECT employee_id, department FROM employees_current
) AS roster USING employee_id
GROUP BY week, department;
