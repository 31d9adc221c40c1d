-- The time zone a migration session gets by default (server, database and role settings):
-- in UTC, PostgreSQL 12+ changes timestamp <-> timestamptz columns without a rewrite.
SELECT /* prodready */ current_setting('TimeZone') AS timezone
