-- Read once per connection: limits and where pg_stat_statements lives.
SELECT /* prodready serve */
    current_setting('max_connections')::int AS max_connections,
    current_setting('server_version_num')::int AS server_version_num,
    current_database() AS database,
    pg_is_in_recovery() AS in_recovery,
    (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'pg_stat_statements') AS pgss_schema
