-- Sessions by database and state (postgres_exporter's pg_stat_activity_count labels).
SELECT /* prodready serve */
    coalesce(datname, '') AS datname,
    coalesce(state, 'unknown') AS state,
    count(*)::int AS count,
    coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8 AS max_tx_duration_s
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2
ORDER BY 1, 2
