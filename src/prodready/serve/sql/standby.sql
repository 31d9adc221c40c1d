-- On a standby: seconds since the last replayed transaction (postgres_exporter's lag).
SELECT /* prodready serve */
    CASE WHEN NOT pg_is_in_recovery() THEN NULL
         WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
         ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag_s
