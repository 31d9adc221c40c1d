-- On-disk bytes of user tables (main fork + TOAST heap and index) and of each index;
-- a table's total adds its indexes in Python. One pg_relation_size call per relation:
-- each takes AccessShareLock for an instant and releases it at once, so no lock piles
-- up, and relations already under ACCESS EXCLUSIVE lock are skipped, not waited on.
SELECT /* prodready */
    c.oid AS oid,
    i.indrelid AS table_oid,
    pg_relation_size(c.oid)
    + CASE WHEN c.reltoastrelid <> 0 THEN
        pg_relation_size(c.reltoastrelid)
        + coalesce((SELECT sum(pg_relation_size(ti.indexrelid))::bigint
                    FROM pg_index ti WHERE ti.indrelid = c.reltoastrelid), 0)
      ELSE 0 END AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'm', 'i')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
  AND NOT c.oid = ANY(%(locked)s::oid[])
  AND NOT coalesce(i.indrelid, 0) = ANY(%(locked)s::oid[])
