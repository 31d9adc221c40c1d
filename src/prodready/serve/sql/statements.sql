-- Counters of every statement of this database, without texts (showtext=false is cheap).
SELECT /* prodready serve */
    queryid::text AS queryid, sum(calls)::bigint AS calls,
    sum(total_exec_time)::float8 AS total_ms, sum(rows)::bigint AS rows,
    max(mean_exec_time)::float8 AS mean_ms, max(stddev_exec_time)::float8 AS stddev_ms
FROM {pgss}.pg_stat_statements(false)
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND queryid IS NOT NULL
GROUP BY queryid
