-- Views and materialized views with their options (security_invoker), ACLs and definitions.
SELECT /* prodready */
    n.nspname AS schema,
    c.relname AS name,
    c.relkind::text AS kind,
    pg_get_userbyid(c.relowner) AS owner,
    coalesce(c.reloptions, '{}') AS options,
    c.relacl::text[] AS acl,
    e.extname AS extension,
    CASE WHEN e.extname IS NULL AND NOT c.oid = ANY(%(locked)s::oid[])  -- would wait on DDL
         THEN left(pg_get_viewdef(c.oid), 65536) END AS definition
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE c.relkind IN ('v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
ORDER BY n.nspname, c.relname
