-- Long-running statements and idle-in-transaction sessions, oldest first.
SELECT /* prodready serve */
    pid, coalesce(usename, '') AS "user", coalesce(application_name, '') AS application,
    coalesce(state, '') AS state,
    extract(epoch FROM now() - xact_start)::float8 AS xact_age_s,
    extract(epoch FROM now() - query_start)::float8 AS query_age_s,
    coalesce(wait_event_type || ':' || wait_event, '') AS wait,
    left(query, 300) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND ((state = 'active' AND now() - query_start > make_interval(secs => %(long_s)s))
    OR (state LIKE 'idle in transaction%%' AND now() - state_change > make_interval(secs => %(idle_s)s)))
ORDER BY xact_start NULLS LAST
LIMIT 20
