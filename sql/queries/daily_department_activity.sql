-- The last 30 days per department: posting employees, posts, engagements received.
SELECT day, department, posting_employees, posts, engagements
FROM daily_department_activity
WHERE day >= today() - 30
ORDER BY day, department
