-- Who and where we are; now() is the snapshot's reference time for every age.
SELECT /* prodready */
    current_setting('server_version_num')::int AS version_num,
    version() AS version,
    current_database() AS database,
    current_user AS current_user,
    session_user AS session_user,
    coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS is_superuser,
    pg_is_in_recovery() AS in_recovery,
    pg_postmaster_start_time() AS postmaster_start,
    now() AS collected_at,
    current_setting('block_size')::int AS block_size
