-- The largest tables: ranked by relpages (no file access), sized exactly only for the top N.
WITH top AS (
    SELECT c.oid, n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    ORDER BY c.relpages DESC
    LIMIT %(limit)s
)
SELECT /* prodready serve */
    format('%%I.%%I', nspname, relname) AS name,
    pg_table_size(oid)::bigint AS table_bytes,
    pg_indexes_size(oid)::bigint AS index_bytes
FROM top
ORDER BY pg_total_relation_size(oid) DESC
