-- Texts of the few statements the dashboard shows (the text file is read only for these).
SELECT /* prodready serve */ DISTINCT ON (queryid) queryid::text AS queryid, left(query, 300) AS query
FROM {pgss}.pg_stat_statements(true)
WHERE queryid::text = ANY(%(ids)s)
