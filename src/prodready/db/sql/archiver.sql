-- WAL archiving counters (archive_mode itself is a setting).
SELECT /* prodready */
    archived_count, last_archived_time, failed_count, last_failed_time, stats_reset
FROM pg_stat_archiver
