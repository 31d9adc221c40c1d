-- Relations under (or queued for) ACCESS EXCLUSIVE lock in this database. Functions that
-- open a relation (size functions, pg_get_expr/pg_get_indexdef/pg_get_constraintdef) would
-- wait behind that lock, so the other queries leave those relations out instead.
SELECT /* prodready */
    coalesce(array_agg(DISTINCT l.relation) FILTER (WHERE l.relation IS NOT NULL), '{}') AS oids,
    coalesce(array_agg(DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname))
        FILTER (WHERE c.relkind IN ('r', 'p', 'm', 'f')), '{}') AS tables
FROM pg_locks l
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation'
  AND l.mode = 'AccessExclusiveLock'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
