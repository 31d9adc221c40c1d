-- Every pg_stat_statements entry of one database, for the index advisor's workload.
-- {pgss} is the schema the extension lives in; %(database)s a name, or NULL for the current
-- database. Our own statements are left out by their marker; the caller groups by fingerprint.
-- Nested statements (toplevel = false: run by functions and triggers, such as the foreign-key
-- triggers' lookups) are left out too; read through to_jsonb so servers whose
-- pg_stat_statements predates the column (PostgreSQL 13) still work.
SELECT /* prodready */
    s.query,
    s.calls,
    s.total_exec_time AS total_ms,
    r.rolname::text AS role
FROM {pgss}.pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (
        SELECT d.oid FROM pg_database d
        WHERE d.datname = coalesce(%(database)s, current_database())
    )
  AND s.calls > 0
  AND s.query IS NOT NULL
  AND s.query <> '<insufficient privilege>'
  AND s.query NOT LIKE '%%/* prodready */%%'
  AND (to_jsonb(s) ->> 'toplevel') IS DISTINCT FROM 'false'
