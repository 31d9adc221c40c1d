-- Row-level security policies; role 0 (PUBLIC) is spelled 'public'.
SELECT /* prodready */
    n.nspname AS schema,
    c.relname AS "table",
    p.polname AS name,
    p.polpermissive AS permissive,
    ARRAY(
        SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE pg_get_userbyid(r.oid)::text END
        FROM unnest(p.polroles) AS r(oid)
        ORDER BY 1
    ) AS roles,
    CASE p.polcmd
        WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
        WHEN 'd' THEN 'DELETE' ELSE 'ALL'
    END AS command,
    pg_get_expr(p.polqual, p.polrelid, true) AS "using",
    pg_get_expr(p.polwithcheck, p.polrelid, true) AS with_check
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT p.polrelid = ANY(%(locked)s::oid[])  -- deparsing would wait behind their DDL
ORDER BY n.nspname, c.relname, p.polname
