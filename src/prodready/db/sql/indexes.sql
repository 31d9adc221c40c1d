-- Indexes with everything needed to compare them: per-column names or expressions,
-- opclasses, collations, sort options, predicate, backing constraint and usage;
-- `referenced_by_fk`: a foreign key depends on it, so it cannot be dropped.
SELECT /* prodready */
    i.indexrelid AS oid,
    n.nspname AS schema,
    t.relname AS "table",
    c.relname AS name,
    pg_get_indexdef(i.indexrelid) AS definition,
    am.amname AS method,
    i.indisunique AS is_unique,
    i.indisprimary AS is_primary,
    i.indisexclusion AS is_exclusion,
    i.indisvalid AS is_valid,
    i.indisready AS is_ready,
    i.indislive AS is_live,
    con.conname AS constraint_name,
    con.contype::text AS constraint_type,
    i.indnkeyatts::int AS n_key_columns,
    i.indkey::int2[]::int[] AS attnums,
    -- names are resolved in Python from columns/opclasses/collations: per-row
    -- subqueries here cost seconds on a catalog with tens of thousands of indexes
    i.indrelid AS table_oid,
    CASE WHEN i.indexprs IS NOT NULL THEN ARRAY(
        SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) AS k
    ) END AS expression_columns,
    i.indoption::int2[]::int[] AS options,
    i.indclass::oid[] AS opclass_oids,
    i.indcollation::oid[] AS collation_oids,
    pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
    c.relpages::int AS relpages,
    e.extname AS extension,
    s.idx_scan, s.idx_tup_read, s.idx_tup_fetch,
    quote_ident(pin.nspname) || '.' || quote_ident(pi.relname) AS parent_index,
    i.indexrelid IN (SELECT f.conindid FROM pg_constraint f WHERE f.contype = 'f')
        AS referenced_by_fk
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = t.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
-- the partitioned index this partition's index is attached to (it cannot be dropped alone)
LEFT JOIN pg_inherits ih ON ih.inhrelid = i.indexrelid
LEFT JOIN pg_class pi ON pi.oid = ih.inhparent
LEFT JOIN pg_namespace pin ON pin.oid = pi.relnamespace
WHERE NOT i.indrelid = ANY(%(locked)s::oid[])  -- deparsing would wait behind their DDL
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, t.relname, c.relname
