-- The one community figure everyone quotes: the estimate, which counts every
-- network, the ones whose follower lists Chorus cannot read included; the
-- exact count is the part of it counted one by one in complete lists. The CLI,
-- the dashboard and the Grafana board lead with the same figure
-- (pipeline/audience/report.py: `headline`).
CREATE VIEW IF NOT EXISTS community_headline AS
SELECT
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
