-- Relations that hold rows, with pg_stat_user_tables and pg_statio_user_tables.
-- Sizes come from sizes.sql; `oid` joins them and is dropped before the snapshot.
SELECT /* prodready */
    c.oid AS oid,
    n.nspname AS schema,
    c.relname AS name,
    c.relkind::text AS kind,
    pg_get_userbyid(c.relowner) AS owner,
    c.relpersistence::text AS persistence,
    c.relispartition AS is_partition,
    c.relrowsecurity AS rls_enabled,
    c.relforcerowsecurity AS rls_forced,
    coalesce(c.reloptions, '{}') AS reloptions,
    c.relacl::text[] AS acl,
    e.extname AS extension,
    c.reltuples::float8 AS reltuples,
    c.relpages::int AS relpages,
    CASE WHEN c.relkind IN ('r', 'm', 't')
        THEN greatest(age(c.relfrozenxid), coalesce(age(tst.relfrozenxid), 0))
    END AS frozen_xid_age,
    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
    c.relreplident::text AS replica_identity,
    s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,
    s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,
    s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.n_ins_since_vacuum,
    s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
    s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
    io.heap_blks_read, io.heap_blks_hit
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class tst ON tst.oid = c.reltoastrelid
LEFT JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
LEFT JOIN pg_statio_user_tables io ON io.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, c.relname
