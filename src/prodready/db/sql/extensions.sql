-- Installed extensions and the schema each lives in.
SELECT /* prodready */
    e.extname AS name,
    n.nspname AS schema,
    e.extversion AS version,
    e.extrelocatable AS relocatable
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname
