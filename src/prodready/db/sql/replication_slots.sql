-- Replication slots and the WAL each holds back.
SELECT /* prodready */
    slot_name::text,
    slot_type,
    active,
    wal_status,
    CASE WHEN pg_is_in_recovery() THEN NULL
         ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes
FROM pg_replication_slots
ORDER BY slot_name
