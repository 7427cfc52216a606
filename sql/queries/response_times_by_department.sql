-- Do employees answer? Per department, the last 30 days: comments by people outside
-- the company, the share answered within 24 hours, and the median time to answer.
SELECT
    department,
    count() AS comments,
    countIf(answered) AS answered_in_24h,
    round(if(comments = 0, 0, answered_in_24h / comments), 3) AS response_rate,
    round(quantileExactIf(0.5)(response_seconds, answered) / 3600, 1) AS median_hours
FROM comment_responses
WHERE commented_at >= now() - INTERVAL 30 DAY
GROUP BY department
ORDER BY response_rate DESC
