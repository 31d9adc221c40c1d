-- The most volatile overload of a function a column default calls ('v' > 's' > 'i'):
-- a volatile default makes ADD COLUMN fill every row, a stable or immutable one does not
-- (PostgreSQL 11+). Unqualified names resolve through the search_path like the migration.
SELECT /* prodready */ max(p.provolatile::text) AS volatility
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = %(name)s
  AND (n.nspname = %(schema)s::text OR (%(schema)s::text IS NULL AND pg_function_is_visible(p.oid)))
