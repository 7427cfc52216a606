-- Is it a conversation? Per department, the last 30 days: the share of posts that
-- answer someone outside the company.
SELECT
    department,
    count() AS posts,
    countIf(reply_outside) AS replies_outside,
    round(if(posts = 0, 0, replies_outside / posts), 3) AS conversation_share
FROM post_conversation
WHERE occurred_at >= now() - INTERVAL 30 DAY
GROUP BY department
ORDER BY conversation_share DESC
