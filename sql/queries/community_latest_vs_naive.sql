-- The headline: the true community of each scope beside what advocacy tools report.
SELECT
    scope_kind,
    scope,
    taken_at,
    naive_reach,
    distinct_persons,
    round(estimated_persons) AS estimated_persons,
    round(ci_low) AS ci_low,
    round(ci_high) AS ci_high,
    round(naive_inflation, 2) AS naive_inflation
FROM community_latest
ORDER BY scope_kind, distinct_persons DESC
