-- ALTER ROLE/DATABASE ... SET defaults that apply in this database: what the application's
-- own roles get at login, which the audit session (another role) cannot see in pg_settings.
-- Custom settings (names with a dot) are left out: they can hold secrets (JWT keys).
SELECT /* prodready */
    r.rolname::text AS role,
    d.datname::text AS database,
    split_part(cfg, '=', 1) AS name,
    substr(cfg, strpos(cfg, '=') + 1) AS value
FROM pg_db_role_setting s
CROSS JOIN LATERAL unnest(s.setconfig) AS cfg
LEFT JOIN pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_database d ON d.oid = s.setdatabase
WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND split_part(cfg, '=', 1) NOT LIKE '%%.%%'
ORDER BY 1 NULLS FIRST, 2 NULLS FIRST, 3
