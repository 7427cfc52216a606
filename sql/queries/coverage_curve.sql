-- How many employees, chosen greedily, reach 50 / 80 / 95 % of the community.
SELECT
    minIf(rank, cumulative_share >= 0.5) AS employees_for_50_percent,
    minIf(rank, cumulative_share >= 0.8) AS employees_for_80_percent,
    minIf(rank, cumulative_share >= 0.95) AS employees_for_95_percent,
    max(rank) AS employees_ranked,
    max(cumulative_persons) AS persons_reached
FROM coverage_latest
