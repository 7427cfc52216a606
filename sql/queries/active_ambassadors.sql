-- Active ambassadors, the last 7 days: active employees with an account who posted,
-- out of all of them, per department.
SELECT
    department,
    countIf(posted) AS active_ambassadors,
    count() AS ambassadors
FROM (
    SELECT employee_id, department, 1 AS with_account
    FROM employees_current
    WHERE active AND notEmpty(account_networks)
) AS ambassadors
ANY LEFT JOIN (
    SELECT employee_id, 1 AS posted
    FROM post_conversation
    WHERE occurred_at >= now() - INTERVAL 7 DAY
    GROUP BY employee_id
) AS recent USING employee_id
GROUP BY department
ORDER BY department
