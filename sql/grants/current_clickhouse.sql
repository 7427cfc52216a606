-- The read-only analyst for current ClickHouse (SQL-driven access control).
-- NOT a numbered migration: run it once as an administrator, after replacing
-- the password, and `chorus` with CHORUS_CLICKHOUSE_DATABASE if you changed it.
-- ClickHouse 18.16 (the local server) has no SQL users: its `analyst` user is
-- declared in infra/clickhouse/users.xml with the readonly profile instead.
CREATE ROLE IF NOT EXISTS chorus_analyst;
GRANT SELECT ON chorus.* TO chorus_analyst;
CREATE USER IF NOT EXISTS analyst IDENTIFIED WITH sha256_password BY 'change-me'
    SETTINGS readonly = 1;
GRANT chorus_analyst TO analyst;
SET DEFAULT ROLE chorus_analyst TO analyst;
