-- Planner statistics for the columns parameters were inferred to compare with, in one read.
-- Values come back as text (the column type's output); inherited statistics (what a query on a
-- parent of partitions or children plans with) win over the parent-only row.
-- age_s: for date/time columns, each histogram bound's age in seconds, for `col > now() - $n`.
-- mcf and null_frac: to pick a value of typical frequency for an equality; distinct (values
-- in the column, from n_distinct and the row estimate): how common an ordinary value is.
SELECT DISTINCT ON (s.schemaname, s.tablename, s.attname) /* prodready */
    s.schemaname::text, s.tablename::text, s.attname::text,
    s.most_common_vals::text::text[] AS mcv,
    s.histogram_bounds::text::text[] AS histogram,
    s.most_common_elems::text::text[] AS elems,
    s.most_common_elem_freqs AS elem_freqs,
    CASE WHEN t.typname IN ('timestamptz', 'timestamp', 'date') THEN array(
        SELECT CASE WHEN b.v NOT IN ('infinity', '-infinity')
                    THEN extract(epoch FROM now() - b.v::timestamptz)::float8 END
        FROM unnest(s.histogram_bounds::text::text[]) WITH ORDINALITY AS b(v, i)
        ORDER BY b.i
    ) END AS age_s,
    s.most_common_freqs::float8[] AS mcf,
    s.null_frac::float8 AS null_frac,
    CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * greatest(c.reltuples, 0)
         ELSE s.n_distinct END::float8 AS distinct
FROM unnest(%(schemas)s::text[], %(tables)s::text[], %(columns)s::text[]) AS w(sch, tab, col)
JOIN pg_stats s ON s.schemaname = w.sch AND s.tablename = w.tab AND s.attname = w.col
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
JOIN pg_type t ON t.oid = a.atttypid
ORDER BY s.schemaname, s.tablename, s.attname, s.inherited DESC
