-- How to write each parameter type in a cast (catalog types bare, others schema-qualified, so
-- the text does not depend on search_path), its category, and a valid default value for
-- parameters whose value does not steer the plan (enum: first label; regconfig: the setting).
SELECT /* prodready */
    t.oid::bigint,
    CASE WHEN e.typnamespace = 'pg_catalog'::regnamespace THEN format_type(t.oid, NULL)
         ELSE quote_ident(n.nspname) || '.' || quote_ident(e.typname)
              || CASE WHEN e.oid <> t.oid THEN '[]' ELSE '' END
    END AS name,
    t.typcategory::text AS category,
    e.typname::text AS base,
    (SELECT l.enumlabel::text FROM pg_enum l WHERE l.enumtypid = e.oid
     ORDER BY l.enumsortorder LIMIT 1) AS first_label,
    current_setting('default_text_search_config') AS text_search_config
FROM pg_type t
JOIN pg_type e ON e.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem
                               ELSE t.oid END
JOIN pg_namespace n ON n.oid = e.typnamespace
WHERE t.oid = ANY(%(oids)s::oid[])
