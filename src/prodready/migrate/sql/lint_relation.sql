-- A relation a migration statement works on, resolved with the session's search_path as
-- the migration itself would resolve it, with its size and row estimate. A partitioned
-- table (or index) sums its leaf partitions. reltuples is -1 until the first ANALYZE or
-- VACUUM (PostgreSQL 14+): then the row estimate is unknown. pg_table_size takes
-- AccessShareLock for an instant; the session's lock_timeout bounds any wait behind DDL.
SELECT /* prodready */
    n.nspname AS schema,
    c.relname AS name,
    c.relkind::text AS kind,
    s.rows,
    s.table_bytes,
    s.total_bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN bool_and(p.reltuples < 0) THEN NULL
             ELSE sum(greatest(p.reltuples, 0)) END::float8 AS rows,
        coalesce(sum(pg_table_size(p.oid)), 0)::bigint AS table_bytes,
        coalesce(sum(pg_total_relation_size(p.oid)), 0)::bigint AS total_bytes
    FROM pg_class p
    WHERE (p.oid = c.oid AND c.relkind NOT IN ('p', 'I'))
       OR p.oid IN (SELECT t.relid FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
) s
WHERE c.oid = to_regclass(%(name)s)
