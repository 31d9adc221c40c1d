-- On-disk sizes of user tables and indexes. The size functions take AccessShareLock
-- for an instant each and release it at once, so no lock piles up across relations.
SELECT /* prodready */
    c.oid AS oid,
    CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END
        AS total_bytes,
    CASE WHEN c.relkind = 'i' THEN NULL ELSE pg_table_size(c.oid) END AS table_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'i')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
  AND NOT c.oid = ANY(%(locked)s::oid[])
  AND NOT coalesce((SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid), 0)
          = ANY(%(locked)s::oid[])
