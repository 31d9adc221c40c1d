-- What the connected role can see: monitoring roles decide what statistics are visible.
SELECT /* prodready */
    pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
    pg_has_role(current_user, 'pg_monitor', 'USAGE') AS monitor,
    pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') AS read_all_settings
