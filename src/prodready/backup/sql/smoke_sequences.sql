-- Sequences owned by a column, with the column, so the drill can compare last_value to max().
SELECT /* prodready */
    sn.nspname AS seq_schema, s.relname AS seq_name,
    tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i')
  AND format_type(a.atttypid, NULL) IN ('smallint', 'integer', 'bigint')
ORDER BY 1, 2
