-- Planner statistics of the workload's tables, for size estimates (n_distinct, MCVs) and
-- partial-index decisions (how rare a literal is). Values come back as text, the column
-- type's output; array columns get no MCVs (their values can be ragged arrays, which no
-- text[] holds). A partitioned table's row is its inherited one (what queries plan with).
SELECT /* prodready */
    s.schemaname::text AS schema,
    s.tablename::text AS "table",
    s.attname::text AS column,
    s.null_frac::float8 AS null_frac,
    s.avg_width::int AS avg_width,
    s.n_distinct::float8 AS n_distinct,
    s.correlation::float8 AS correlation,
    CASE WHEN t.typcategory <> 'A' THEN s.most_common_vals::text::text[] END AS mcv,
    CASE WHEN t.typcategory <> 'A' THEN s.most_common_freqs::float8[] END AS mcf
FROM unnest(%(schemas)s::text[], %(tables)s::text[]) AS w(sch, tab)
JOIN pg_namespace n ON n.nspname = w.sch
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.tab
JOIN pg_stats s
    ON s.schemaname = w.sch AND s.tablename = w.tab AND s.inherited = (c.relkind = 'p')
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
JOIN pg_type t ON t.oid = a.atttypid
ORDER BY 1, 2, 3
