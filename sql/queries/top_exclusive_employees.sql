-- Who brings audience no one else reaches (latest snapshot).
SELECT
    employee_id,
    department,
    followers,
    exclusive_followers,
    round(if(followers = 0, 0, exclusive_followers / followers), 3) AS exclusive_share,
    naive_followers
FROM employee_reach_latest
ORDER BY exclusive_followers DESC, employee_id
LIMIT 20
