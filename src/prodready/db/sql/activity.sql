-- Sessions; other roles' query text is hidden by the server unless we may see it.
SELECT /* prodready */
    a.pid,
    a.usename::text AS user,
    a.application_name,
    a.backend_type,
    a.state,
    extract(epoch FROM now() - a.xact_start)::float8 AS xact_age_s,
    extract(epoch FROM now() - a.query_start)::float8 AS query_age_s,
    extract(epoch FROM now() - a.state_change)::float8 AS state_age_s,
    a.wait_event_type,
    a.wait_event,
    nullif(left(a.query, 2000), '<insufficient privilege>') AS query,
    a.pid = pg_backend_pid() AS is_self,
    a.datname IS NOT DISTINCT FROM current_database() AS same_database
FROM pg_stat_activity a
ORDER BY a.pid
