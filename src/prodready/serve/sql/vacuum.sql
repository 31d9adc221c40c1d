-- Tables with the most dead rows and the oldest unfrozen xids (top N each).
SELECT /* prodready serve */ * FROM (
    SELECT format('%%I.%%I', s.schemaname, s.relname) AS name, s.n_dead_tup::bigint AS dead_rows,
           s.n_live_tup::bigint AS live_rows,
           extract(epoch FROM now() - greatest(last_autovacuum, last_vacuum))::float8 AS vacuum_age_s,
           age(c.relfrozenxid)::bigint AS frozen_xid_age
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    ORDER BY s.n_dead_tup DESC
    LIMIT %(limit)s
) t
