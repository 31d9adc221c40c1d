-- One line per schema object, free of OIDs and sizes: identical after a faithful restore.
WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp%'
), ext_objs AS (
    SELECT objid FROM pg_depend WHERE deptype = 'e' AND classid = 'pg_class'::regclass
)
SELECT /* prodready */ kind, line FROM (
    SELECT 'relation' AS kind,
           format('%s %I.%I', c.relkind, n.nspname, c.relname) AS line
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.oid NOT IN (SELECT objid FROM ext_objs)
    UNION ALL
    SELECT 'column', format('%I.%I.%I %s%s', n.nspname, c.relname, a.attname,
                            format_type(a.atttypid, a.atttypmod),
                            CASE WHEN a.attnotnull THEN ' not null' ELSE '' END)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_ns n ON n.oid = c.relnamespace
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND c.oid NOT IN (SELECT objid FROM ext_objs)
    UNION ALL
    SELECT 'index', pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN user_ns n ON n.oid = c.relnamespace
    WHERE i.indrelid NOT IN (SELECT objid FROM ext_objs)
    UNION ALL
    SELECT 'constraint', format('%I.%I %I %s', n.nspname, c.relname, k.conname,
                                pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN user_ns n ON n.oid = c.relnamespace
    WHERE c.oid NOT IN (SELECT objid FROM ext_objs)
    UNION ALL
    SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
    FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'policy', format('%I.%I %I', pol.schemaname, pol.tablename, pol.policyname)
    FROM pg_policies pol
) objects
ORDER BY kind, line
