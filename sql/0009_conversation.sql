-- Is it a conversation? The facts the conversation metrics are computed from
-- (docs/analysts.md, "Conversation"): each view is one row per fact, with the
-- employee's current department and region, so that any window (a day, 7 or
-- 30 days) and any scope (company, department, region, network, employee) is
-- one GROUP BY away. Written for ClickHouse 18.16 and current ClickHouse alike:
-- one JOIN per SELECT, aliased subqueries, USING; ANY LEFT JOIN (ANY INNER JOIN
-- keeps one row per key on both sides on current ClickHouse) and a flag for inner.

-- Which person an account belongs to, for accounts the identity graph linked
-- to others (every other account is a person of its own). Written by the
-- audience agent when it changes; `colleague`: the person has an employee account.
CREATE TABLE IF NOT EXISTS account_persons (
    snapshot_id String,
    taken_at DateTime('UTC'),
    account String,
    person String,
    colleague UInt8
) ENGINE = ReplacingMergeTree()
ORDER BY (account, taken_at, snapshot_id);

CREATE VIEW IF NOT EXISTS account_persons_current AS
SELECT
    account,
    argMax(person, (taken_at, snapshot_id)) AS person,
    argMax(colleague, (taken_at, snapshot_id)) AS colleague
FROM account_persons
GROUP BY account;

-- Every post once (its latest version), with its author's current scopes and
-- whether it answers someone outside the company: a reply whose author is no
-- employee account (any roster version lists every employee account), nor an
-- account of a colleague's person (an employee's linked personal account).
CREATE VIEW IF NOT EXISTS post_conversation AS
SELECT
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
    in_reply_to_author != ''
        AND in_reply_to_author NOT IN (SELECT arrayJoin(account_pseudonyms) FROM employees)
        AND author_colleague = 0
        AS reply_outside
FROM (
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
    FROM (
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
    ANY LEFT JOIN (
        SELECT employee_id, department, region, 1 AS on_roster FROM employees_current
    ) AS e USING employee_id
    WHERE on_roster = 1
) AS posted
ANY LEFT JOIN (
    SELECT account AS in_reply_to_author, colleague AS author_colleague
    FROM account_persons_current
) AS a USING in_reply_to_author;

-- Every engagement with an employee's post once, with the post's author and
-- scopes, and the person who engaged: through the identity graph, so that a
-- person engaging from two networks is one person. `colleague`: the person
-- has an employee account (not audience).
CREATE VIEW IF NOT EXISTS engagement_persons AS
SELECT
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
    linked_colleague = 1
        OR actor_id IN (SELECT arrayJoin(account_pseudonyms) FROM employees)
        AS colleague
FROM (
    SELECT event_id, occurred_at, post_id, employee_id, department, region, network, actor_id, kind
    FROM (
        SELECT event_id, occurred_at, post_id, actor_id, kind FROM engagements FINAL
    ) AS g
    ANY LEFT JOIN (
        SELECT post_id, employee_id, department, region, network, 1 AS employees_post
        FROM post_conversation
    ) AS p USING post_id
    WHERE employees_post = 1
) AS engaged
ANY LEFT JOIN (
    SELECT account AS actor_id, person AS linked_person, colleague AS linked_colleague
    FROM account_persons_current
) AS a USING actor_id;

-- Every comment on an employee's post by someone outside the company, and
-- whether that employee answered it: a reply of theirs to the comment's author
-- within 24 hours after the comment (`response_seconds`: to the first such
-- reply; 0 where unanswered).
CREATE VIEW IF NOT EXISTS comment_responses AS
SELECT
    comment_id,
    commented_at,
    toDate(commented_at) AS day,
    post_id,
    employee_id,
    department,
    region,
    network,
    actor_id,
    countIf(replied_at > commented_at AND replied_at <= commented_at + 86400) > 0 AS answered,
    minIf(
        toInt64(replied_at) - toInt64(commented_at),
        replied_at > commented_at AND replied_at <= commented_at + 86400
    ) AS response_seconds
FROM (
    SELECT comment_id, commented_at, post_id, employee_id, department, region, network,
        actor_id, replied_at
    FROM (
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
        WHERE kind = 'comment' AND NOT colleague
    ) AS c
    ALL LEFT JOIN (
        SELECT employee_id, in_reply_to_author AS actor_id, occurred_at AS replied_at
        FROM post_conversation
        WHERE in_reply_to_author != ''
    ) AS r USING (employee_id, actor_id)
)
GROUP BY comment_id, commented_at, post_id, employee_id, department, region, network, actor_id;
