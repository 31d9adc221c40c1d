-- Who the database is: a drill refuses to restore onto the database a dump came from.
SELECT /* prodready */
    current_database() AS database,
    (SELECT oid::bigint FROM pg_database WHERE datname = current_database()) AS database_oid,
    pg_postmaster_start_time()::text AS postmaster_start,
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num
