-- Server settings as this role can see them.
SELECT /* prodready */ name, setting AS value, unit, source, vartype
FROM pg_settings
ORDER BY name
