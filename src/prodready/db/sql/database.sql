-- The connected database: size, wraparound age, and pg_stat_database counters.
SELECT /* prodready */
    d.datname AS name,
    pg_database_size(d.oid) AS size_bytes,
    d.datconnlimit AS conn_limit,
    age(d.datfrozenxid) AS frozen_xid_age,
    coalesce(s.numbackends, 0) AS numbackends,
    coalesce(s.xact_commit, 0) AS xact_commit,
    coalesce(s.xact_rollback, 0) AS xact_rollback,
    coalesce(s.blks_read, 0) AS blks_read,
    coalesce(s.blks_hit, 0) AS blks_hit,
    coalesce(s.temp_files, 0) AS temp_files,
    coalesce(s.temp_bytes, 0) AS temp_bytes,
    coalesce(s.deadlocks, 0) AS deadlocks,
    s.stats_reset AS stats_reset
FROM pg_database d
LEFT JOIN pg_stat_database s ON s.datid = d.oid
WHERE d.datname = current_database()
