-- Table constraints (inherited copies on partitions are left out: the parent speaks for them).
SELECT /* prodready */
    n.nspname AS schema,
    t.relname AS "table",
    con.conname AS name,
    con.contype::text AS type,
    con.convalidated AS validated,
    ARRAY(
        SELECT a.attname::text
        FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS columns,
    rn.nspname AS ref_schema,
    rt.relname AS ref_table,
    CASE WHEN con.confrelid <> 0 THEN ARRAY(
        SELECT a.attname::text
        FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) END AS ref_columns,
    pg_get_constraintdef(con.oid, true) AS definition
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace
WHERE con.conrelid <> 0
  AND NOT con.conrelid = ANY(%(locked)s::oid[])  -- deparsing would wait behind their DDL
  AND NOT con.confrelid = ANY(%(locked)s::oid[])
  AND con.conparentid = 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, t.relname, con.conname
