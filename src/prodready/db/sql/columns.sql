-- Columns of tables and views, with defaults, identity/generated flags and column ACLs.
SELECT /* prodready */
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
    a.attacl::text[] AS acl
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE c.relkind IN ('r', 'p', 'm', 'f', 'v')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, c.relname, a.attnum
