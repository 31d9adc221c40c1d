-- A table's indexes (one by name, or all when index is null) and whether each is valid:
-- a failed or cancelled CREATE INDEX CONCURRENTLY leaves an index with indisvalid = false.
SELECT n.nspname AS schema, c.relname AS name, i.indisvalid AS valid, i.indexrelid::int8 AS oid
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE i.indrelid = to_regclass(%(table)s)
  AND (%(index)s::text IS NULL OR c.relname = %(index)s::text)
ORDER BY c.relname
