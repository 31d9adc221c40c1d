-- Counters of every database (pg_stat_database_*); cheap: one row per database.
SELECT /* prodready serve */
    datid::bigint AS datid, datname, numbackends, xact_commit, xact_rollback, blks_read,
    blks_hit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, conflicts,
    temp_files, temp_bytes, deadlocks,
    (SELECT age(datfrozenxid) FROM pg_database d WHERE d.oid = s.datid)::bigint AS frozen_xid_age
FROM pg_stat_database s
WHERE datname IS NOT NULL
ORDER BY datname
