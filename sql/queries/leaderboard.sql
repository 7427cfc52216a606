-- The leaderboard: who brings audience no one else reaches, then who converses, not
-- who has the most followers (the last 30 days of conversation).
SELECT
    employee_id,
    department,
    exclusive_followers,
    followers,
    round(conversation_share, 3) AS conversation_share
FROM (
    SELECT employee_id, department, exclusive_followers, followers FROM employee_reach_latest
) AS reach
ANY LEFT JOIN (
    SELECT employee_id, countIf(reply_outside) / count() AS conversation_share
    FROM post_conversation
    WHERE occurred_at >= now() - INTERVAL 30 DAY
    GROUP BY employee_id
) AS talk USING employee_id
ORDER BY exclusive_followers DESC, conversation_share DESC, employee_id
LIMIT 20
