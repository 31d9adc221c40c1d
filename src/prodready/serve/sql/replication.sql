-- Standbys of this primary with their lag in bytes and seconds.
SELECT /* prodready serve */
    coalesce(application_name, '') AS application_name,
    coalesce(client_addr::text, '') AS client_addr, coalesce(state, '') AS state,
    coalesce(pg_wal_lsn_diff(
        CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,
        replay_lsn), 0)::float8 AS lag_bytes,
    coalesce(extract(epoch FROM replay_lag), 0)::float8 AS lag_s
FROM pg_stat_replication
ORDER BY 1
