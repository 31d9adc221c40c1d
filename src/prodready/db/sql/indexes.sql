-- Indexes with everything needed to compare them: per-column names or expressions,
-- opclasses, collations, sort options, predicate, backing constraint and usage.
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
    ARRAY(
        SELECT coalesce(a.attname::text, pg_get_indexdef(i.indexrelid, k.ord::int, true))
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        LEFT JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
        ORDER BY k.ord
    ) AS columns,
    i.indoption::int2[]::int[] AS options,
    ARRAY(
        SELECT opc.opcname::text
        FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opc, ord)
        JOIN pg_opclass opc ON opc.oid = k.opc
        ORDER BY k.ord
    ) AS opclasses,
    ARRAY(
        SELECT coll.collname::text
        FROM unnest(i.indcollation::oid[]) WITH ORDINALITY AS k(coll, ord)
        LEFT JOIN pg_collation coll ON coll.oid = k.coll
        ORDER BY k.ord
    ) AS collations,
    pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
    c.relpages::int AS relpages,
    e.extname AS extension,
    s.idx_scan, s.idx_tup_read, s.idx_tup_fetch
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
WHERE NOT i.indrelid = ANY(%(locked)s::oid[])  -- deparsing would wait behind their DDL
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, t.relname, c.relname
