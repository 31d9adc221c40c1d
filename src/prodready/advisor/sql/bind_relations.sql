-- Resolve the relations a workload names, the way the planner would: a schema-qualified name
-- directly, an unqualified one through the session's search_path (first schema that has it).
-- Unresolved names say whether some session's temporary table has that name.
WITH wanted AS (
    SELECT w.schema, w.name
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS w(schema, name)
),
path AS (
    SELECT p.nspname, p.position
    FROM unnest(current_schemas(true)) WITH ORDINALITY AS p(nspname, position)
),
found AS (
    SELECT DISTINCT ON (w.schema, w.name)
        w.schema, w.name, n.nspname::text AS real_schema, c.relkind::text AS relkind,
        c.relpersistence::text AS persistence,
        array(
            SELECT a.attname::text FROM pg_attribute a
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
        ) AS columns
    FROM wanted w
    JOIN pg_class c ON c.relname = w.name
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN path p ON p.nspname = n.nspname
    WHERE (w.schema <> '' AND n.nspname = w.schema) OR (w.schema = '' AND p.position IS NOT NULL)
    ORDER BY w.schema, w.name, p.position
)
SELECT /* prodready */
    w.schema, w.name, f.real_schema, f.relkind, f.persistence, f.columns,
    f.real_schema IS NULL AND EXISTS (
        SELECT 1 FROM pg_class t WHERE t.relname = w.name AND t.relpersistence = 't'
    ) AS temporary_elsewhere
FROM wanted w
LEFT JOIN found f ON f.schema = w.schema AND f.name = w.name
