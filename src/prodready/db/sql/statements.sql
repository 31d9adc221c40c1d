-- Top statements of this database by total execution time. {pgss} is the schema
-- pg_stat_statements lives in; our own catalog queries are left out by their marker.
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
FROM {pgss}.pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query NOT LIKE '%/* prodready */%'
ORDER BY s.total_exec_time DESC
LIMIT {limit}
