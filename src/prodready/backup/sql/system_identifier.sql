-- The cluster's unique id (pg_control); needs superuser or an explicit grant.
SELECT /* prodready */ system_identifier::text AS system_identifier FROM pg_control_system()
