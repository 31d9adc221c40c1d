-- Indexes a restore left invalid or not ready (a failed CREATE INDEX leaves them so).
SELECT /* prodready */ format('%I.%I', n.nspname, c.relname) AS index
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT (i.indisvalid AND i.indisready)
ORDER BY 1
