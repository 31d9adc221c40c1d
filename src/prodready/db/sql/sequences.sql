-- Sequences and the column each feeds. last_value is read separately (sequence_values)
-- because pg_sequences.last_value takes a RowExclusiveLock.
SELECT /* prodready */
    c.oid AS oid,
    n.nspname AS schema,
    c.relname AS name,
    format_type(s.seqtypid, NULL) AS data_type,
    s.seqmin AS min_value,
    s.seqmax AS max_value,
    s.seqincrement AS increment,
    has_sequence_privilege(c.oid, 'SELECT') AS readable,
    ot.relname AS owned_by_table,
    oa.attname AS owned_by_column,
    format_type(oa.atttypid, oa.atttypmod) AS column_type,
    e.extname AS extension
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend od
    ON od.classid = 'pg_class'::regclass AND od.objid = c.oid
   AND od.refclassid = 'pg_class'::regclass AND od.deptype IN ('a', 'i')
LEFT JOIN pg_class ot ON ot.oid = od.refobjid
LEFT JOIN pg_attribute oa ON oa.attrelid = od.refobjid AND oa.attnum = od.refobjsubid
LEFT JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, c.relname
