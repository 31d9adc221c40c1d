-- WAL archiver counters and the age of the last archived segment.
SELECT /* prodready serve */
    archived_count, failed_count,
    extract(epoch FROM now() - last_archived_time)::float8 AS last_archive_age_s,
    (last_failed_time IS NOT NULL
     AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)) AS failing,
    current_setting('archive_mode') AS archive_mode
FROM pg_stat_archiver
