-- Slip-up trend: per week and department, the share of posts with a slip-up.
SELECT
    week,
    department,
    posts,
    flagged_posts,
    slipups,
    round(slipup_rate, 4) AS slipup_rate
FROM slipup_rate_weekly
WHERE week >= toMonday(today()) - 12 * 7
ORDER BY week, department
