-- Functions and procedures in user schemas: SECURITY DEFINER, proconfig, ACL, and the
-- source of user-written ones (what policies read through them; secrets left in them).
SELECT /* prodready */
    n.nspname AS schema,
    p.proname AS name,
    pg_get_function_identity_arguments(p.oid) AS identity_args,
    pg_get_function_result(p.oid) AS result_type,
    p.prokind::text AS kind,
    l.lanname AS language,
    p.prosecdef AS security_definer,
    p.provolatile::text AS volatility,
    p.proleakproof AS leakproof,
    p.proconfig AS config,
    pg_get_userbyid(p.proowner) AS owner,
    p.proacl::text[] AS acl,
    e.extname AS extension,
    CASE WHEN e.extname IS NULL AND l.lanname NOT IN ('c', 'internal')
         THEN left(p.prosrc, 65536) END AS body
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_depend d
    ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname, p.proname, 3
