-- User triggers with their definitions (the function and the arguments it is given).
SELECT /* prodready */
    n.nspname AS schema,
    c.relname AS "table",
    t.tgname AS name,
    pn.nspname AS function_schema,
    p.proname AS function_name,
    left(pg_get_triggerdef(t.oid), 65536) AS definition
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT t.tgrelid = ANY(%(locked)s::oid[])
ORDER BY n.nspname, c.relname, t.tgname
