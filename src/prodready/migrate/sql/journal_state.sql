-- Does the journal exist yet? Looked up before creating anything, so a role without CREATE on
-- the database can still use a journal a DBA created and granted to it.
SELECT to_regnamespace(%(schema)s) IS NOT NULL AS schema_exists,
       to_regclass(%(table)s) IS NOT NULL AS table_exists
