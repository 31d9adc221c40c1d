-- User schemas with their ACLs; extension-owned schemas are marked.
SELECT /* prodready */
    n.nspname AS name,
    pg_get_userbyid(n.nspowner) AS owner,
    n.nspacl::text[] AS acl,
    e.extname AS extension
FROM pg_namespace n
LEFT JOIN pg_depend d
    ON d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname
