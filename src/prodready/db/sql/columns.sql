-- Columns of tables and views, with defaults, identity/generated flags and column ACLs,
-- plus the storage facts and ANALYZE statistics a bloat estimate needs (pg_stats shows
-- only columns this role may read; `inherited` rows describe a partitioned table's tree).
SELECT /* prodready */
    a.attrelid AS table_oid,
    n.nspname AS schema,
    c.relname AS "table",
    a.attname AS name,
    a.attnum::int AS num,
    format_type(a.atttypid, a.atttypmod) AS type,
    a.attnotnull AS not_null,
    CASE WHEN NOT a.attrelid = ANY(%(locked)s::oid[])
        THEN pg_get_expr(ad.adbin, ad.adrelid, true) END AS "default",
    a.attidentity::text AS identity,
    a.attgenerated::text AS generated,
    a.attacl::text[] AS acl,
    a.attlen::int AS type_length,
    a.attalign::text AS type_align,
    st.avg_width::int AS avg_width,
    st.null_frac::float8 AS null_frac
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_stats st
    ON st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = a.attname
    AND st.inherited = (c.relkind = 'p')
WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, c.relname, a.attnum
