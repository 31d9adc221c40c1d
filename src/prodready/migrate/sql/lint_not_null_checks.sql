-- Validated CHECK constraints of a table: one that proves `col IS NOT NULL` lets
-- SET NOT NULL skip its full-table scan (PostgreSQL 12+).
SELECT /* prodready */ pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
WHERE c.conrelid = to_regclass(%(table)s)
  AND c.contype = 'c'
  AND c.convalidated
ORDER BY c.conname
