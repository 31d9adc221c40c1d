-- Size of the monitored database (stat()s every file: read on the slow cadence only).
SELECT /* prodready serve */ pg_database_size(current_database())::bigint AS bytes
