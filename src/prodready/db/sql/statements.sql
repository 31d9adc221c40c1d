-- Top statements of this database by total execution time, plus the ones that read the
-- most blocks (fast on a warm cache, they still scan big tables and fall over under load).
-- {pgss} is the schema pg_stat_statements lives in; our own catalog queries are left out
-- by their marker.
SELECT /* prodready */
    s.queryid::text AS queryid,
    r.rolname::text AS user,
    nullif(s.query, '<insufficient privilege>') AS query,
    s.calls,
    s.total_exec_time AS total_exec_time_ms,
    s.mean_exec_time AS mean_exec_time_ms,
    s.max_exec_time AS max_exec_time_ms,
    s.stddev_exec_time AS stddev_exec_time_ms,
    s.rows,
    s.shared_blks_hit,
    s.shared_blks_read,
    s.temp_blks_written
FROM (
    SELECT p.*,
        row_number() OVER (ORDER BY p.total_exec_time DESC) AS by_time,
        row_number() OVER (ORDER BY p.shared_blks_hit + p.shared_blks_read DESC) AS by_blocks
    FROM {pgss}.pg_stat_statements p
    WHERE p.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND p.query NOT LIKE '%/* prodready */%'
) s
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.by_time <= {limit} OR s.by_blocks <= {limit} / 10
ORDER BY s.total_exec_time DESC
