-- "Our announcement reached N people": each campaign's true reach beside the naive sum.
SELECT campaign_id, relaying_employees, posts, naive_reach, distinct_persons, taken_at
FROM campaign_reach_latest
ORDER BY distinct_persons DESC
