-- Does a relation (quoted, optionally schema-qualified name) exist, as search_path resolves it?
SELECT to_regclass(%(name)s) IS NOT NULL AS present
