-- Rejected input per source topic and reason, with the latest example.
SELECT
    topic,
    reason,
    count() AS dead_letters,
    max(failed_at) AS last_failed_at,
    argMax(message, failed_at) AS last_message
FROM dead_letters FINAL
GROUP BY topic, reason
ORDER BY dead_letters DESC
