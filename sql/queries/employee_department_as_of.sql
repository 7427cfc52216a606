-- The department of each employee as of a moment T (here 2026-01-01 00:00 UTC):
-- the latest roster version that occurred at or before T. Change the literal.
SELECT
    employee_id,
    argMax(department, (occurred_at, event_id)) AS department_then,
    argMax(active, (occurred_at, event_id)) AS active_then,
    max(occurred_at) AS version_from
FROM employees
WHERE occurred_at <= toDateTime('2026-01-01 00:00:00', 'UTC')
GROUP BY employee_id
ORDER BY employee_id
