-- Relations that hold rows, with pg_stat_user_tables and pg_statio_user_tables.
-- `index_build_running`: a CREATE INDEX/REINDEX is in progress on the table right now
-- (other roles' builds are visible only with pg_read_all_stats).
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
    io.heap_blks_read, io.heap_blks_hit,
    pn.nspname AS parent_schema,
    pc.relname AS parent_name,
    c.oid IN (SELECT p.relid FROM pg_stat_progress_create_index p) AS index_build_running,
    CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class tst ON tst.oid = c.reltoastrelid
LEFT JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
LEFT JOIN pg_extension e ON e.oid = d.refobjid
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
LEFT JOIN pg_statio_user_tables io ON io.relid = c.oid
-- a partition has exactly one parent (plain inheritance children may have several)
LEFT JOIN pg_inherits inh ON inh.inhrelid = c.oid AND c.relispartition
LEFT JOIN pg_class pc ON pc.oid = inh.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
ORDER BY n.nspname, c.relname
