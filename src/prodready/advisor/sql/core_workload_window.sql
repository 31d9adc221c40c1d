-- Seconds since pg_stat_statements was last reset (PostgreSQL 14+): the time frame its
-- call counts cover, to put table write rates in the same frame.
SELECT /* prodready */ extract(epoch FROM now() - stats_reset)::float8 AS seconds
FROM {pgss}.pg_stat_statements_info
