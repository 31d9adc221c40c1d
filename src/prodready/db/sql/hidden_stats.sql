-- Tables with rows whose column statistics this role may not read: pg_stats shows a
-- column only to roles with SELECT on it, and the bloat estimate needs those statistics.
SELECT /* prodready */ count(*)::int AS tables
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND c.reltuples > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
  AND NOT has_table_privilege(c.oid, 'SELECT')
