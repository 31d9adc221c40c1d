-- Sessions waiting on a lock and who blocks them (pg_blocking_pids only for waiters).
SELECT /* prodready serve */
    w.pid, coalesce(w.usename, '') AS "user",
    extract(epoch FROM now() - w.query_start)::float8 AS waiting_s,
    pg_blocking_pids(w.pid) AS blocked_by,
    left(w.query, 200) AS query
FROM pg_stat_activity w
WHERE w.wait_event_type = 'Lock'
ORDER BY w.query_start
LIMIT 50
