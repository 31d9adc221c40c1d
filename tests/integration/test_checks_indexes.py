"""Index checks against a real database: each fires, stays silent, and its fix and rollback
run (also on hostile identifiers)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from prodready.config import Config
from prodready.db.snapshot import Snapshot, qualify
from prodready.model import Finding, Fix, Severity
from tests.conftest import TestDatabase

MIB = 1024 * 1024


def found(
    db: TestDatabase, check: str, obj: str, snap: Snapshot | None = None, **options: object
) -> list[Finding]:
    return db.findings_about(check, obj, snap, **options)


def apply_and_revert(db: TestDatabase, check: str, obj: str, fix: Fix | None) -> None:
    """The fix makes the finding disappear; the rollback brings it back."""
    assert fix is not None and fix.rollback_sql is not None
    db.run_script(fix.sql)
    assert found(db, check, obj) == []
    db.run_script(fix.rollback_sql)
    assert len(found(db, check, obj)) == 1


def index_exists(db: TestDatabase, schema: str, name: str) -> bool:
    rows = db.query(
        "SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    )
    return bool(rows) and bool(rows[0][0])


# -- unindexed_foreign_key --


def test_unindexed_foreign_key_fires_and_its_fix_works(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE fk_users (id int PRIMARY KEY);
        CREATE TABLE fk_orders (id int PRIMARY KEY, buyer_id int REFERENCES fk_users);
        INSERT INTO fk_users SELECT g FROM generate_series(1, 100) g;
        INSERT INTO fk_orders SELECT g, g % 100 + 1 FROM generate_series(1, 2000) g;
        ANALYZE fk_users, fk_orders;
        """
    )
    [finding] = found(db, "unindexed_foreign_key", "public.fk_orders (buyer_id)")
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence["rows"] == 2000
    assert finding.evidence["referenced_tables"] == ["public.fk_users"]
    assert finding.evidence["constraints"] == ["fk_orders_buyer_id_fkey"]
    assert finding.fix is not None and finding.fix.transactional is False
    apply_and_revert(db, "unindexed_foreign_key", "public.fk_orders (buyer_id)", finding.fix)
    assert not index_exists(db, "public", "fk_orders_buyer_id_idx")


def test_covered_foreign_keys_are_silent(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE cov_parent (a int, b int, PRIMARY KEY (a, b));
        CREATE TABLE cov_child (
            id int PRIMARY KEY, a int, b int, note text,
            FOREIGN KEY (a, b) REFERENCES cov_parent);
        CREATE INDEX ON cov_child (b, a, note);
        CREATE TABLE cov_self (id int PRIMARY KEY, parent_id int REFERENCES cov_self);
        CREATE INDEX ON cov_self USING hash (parent_id);
        """
    )
    objects = [x.object for x in db.findings("unindexed_foreign_key")]
    assert not any(o.startswith(("public.cov_child", "public.cov_self")) for o in objects)


def test_partial_not_null_index_serves_the_fk_and_is_not_reported(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE pn_users (id int PRIMARY KEY);
        CREATE TABLE pn_orders (id int PRIMARY KEY, buyer_id int REFERENCES pn_users,
                                archived_id int REFERENCES pn_users);
        INSERT INTO pn_users SELECT generate_series(1, 100);
        INSERT INTO pn_orders SELECT g, CASE WHEN g % 3 = 0 THEN g % 100 + 1 END,
                                      g % 100 + 1 FROM generate_series(1, 20000) g;
        CREATE INDEX pn_orders_buyer ON pn_orders (buyer_id) WHERE buyer_id IS NOT NULL;
        CREATE INDEX pn_orders_archived ON pn_orders (archived_id) WHERE id > 10;
        ANALYZE pn_users, pn_orders;
        """
    )
    objects = [x.object for x in db.findings("unindexed_foreign_key")]
    assert "public.pn_orders (buyer_id)" not in objects
    assert "public.pn_orders (archived_id)" in objects  # an unrelated predicate does not serve
    # the RI trigger's lookup, as the generic plan PostgreSQL caches for it, uses the index
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(
            "PREPARE ri(int) AS SELECT 1 FROM ONLY public.pn_orders x "
            "WHERE buyer_id OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x"
        )
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN EXECUTE ri(7)").fetchall())
    assert "pn_orders_buyer" in plan


def test_partitioned_foreign_key_gets_a_plain_create_index(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE part_users (id int PRIMARY KEY);
        INSERT INTO part_users SELECT generate_series(1, 10);
        CREATE TABLE part_events (id int, user_id int REFERENCES part_users, at date)
            PARTITION BY RANGE (at);
        CREATE TABLE part_events_2025 PARTITION OF part_events
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE part_events_2026 PARTITION OF part_events
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO part_events SELECT g, g % 10 + 1, date '2025-06-01' + g % 400
            FROM generate_series(1, 3000) g;
        ANALYZE part_events_2025, part_events_2026;
        """
    )
    obj = "public.part_events (user_id)"
    [finding] = found(db, "unindexed_foreign_key", obj)
    assert finding.evidence["rows"] == 3000 and finding.severity is Severity.MEDIUM
    assert finding.fix is not None and finding.fix.transactional and finding.fix.needs_review
    assert "CONCURRENTLY" not in finding.fix.sql
    apply_and_revert(db, "unindexed_foreign_key", obj, finding.fix)
    # indexes on every partition also cover it
    db.execute(
        "CREATE INDEX ON part_events_2025 (user_id); CREATE INDEX ON part_events_2026 (user_id)"
    )
    assert found(db, "unindexed_foreign_key", obj) == []


HOSTILE_TABLES = [
    'a"b c',
    "ünïcødé tåble",
    "select",
    "t" * 63,
    "é" * 31 + "x",  # 63 bytes of two-byte characters and one ASCII
]


@pytest.mark.parametrize("table", HOSTILE_TABLES, ids=["quote-space", "unicode", "reserved",
                                                      "63-ascii", "63-unicode"])  # fmt: skip
def test_fixes_run_on_hostile_identifiers(db: TestDatabase, table: str) -> None:
    schema = "Odd Schema"
    parent, child = sql.Identifier(schema, "parent " + table[:50]), sql.Identifier(schema, table)
    db.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)).as_string(None)
    )
    db.execute(
        sql.SQL(
            'CREATE TABLE {p} ("from" int PRIMARY KEY);'
            'CREATE TABLE {c} (id int PRIMARY KEY, "Buyer ""ID""" int REFERENCES {p});'
            "INSERT INTO {p} VALUES (1); INSERT INTO {c} VALUES (1, 1);"
        )
        .format(p=parent, c=child)
        .as_string(None)
    )
    obj = f'{qualify(schema, table)} ("Buyer ""ID""")'
    [finding] = found(db, "unindexed_foreign_key", obj)
    assert finding.fix is not None
    db.run_script(finding.fix.sql)
    assert found(db, "unindexed_foreign_key", obj) == []
    [name] = [
        row[0]
        for row in db.query(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            (child.as_string(None),),
        )
    ]
    assert len(name.encode()) <= 63 and name in finding.fix.sql.replace('""', '"')

    # the new index is unused: its drop and the recreating rollback run on these names too
    index_obj = qualify(schema, name)
    [unused] = found(db, "unused_index", index_obj, min_stats_age_days=0)
    assert unused.severity is Severity.INFO and unused.fix is not None
    apply_and_revert(db, "unused_index", index_obj, unused.fix)

    db.run_script(finding.fix.rollback_sql or "")
    assert len(found(db, "unindexed_foreign_key", obj)) == 1


# -- unused_index --


def test_unused_index_with_young_statistics_is_info(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE un_t (id int PRIMARY KEY, a int, b int);
        INSERT INTO un_t SELECT g, g, g FROM generate_series(1, 50000) g;
        CREATE INDEX un_t_a_idx ON un_t (a);
        CREATE INDEX un_t_b_idx ON un_t (b);
        ANALYZE un_t;
        SET enable_seqscan = off;
        SELECT count(*) FROM un_t WHERE b = 7;
        """
    )
    snap = db.snapshot()
    [finding] = found(db, "unused_index", "public.un_t_a_idx", snap)
    assert finding.severity is Severity.INFO
    assert finding.evidence["idx_scan"] == 0 and finding.evidence["stats_age_days"] < 1
    assert finding.evidence["stats_since"] == snap.stats_since
    assert finding.evidence["size_bytes"] > MIB  # 50,000 entries: over 1 MiB
    assert found(db, "unused_index", "public.un_t_b_idx", snap) == []  # scanned
    assert found(db, "unused_index", "public.un_t_pkey", snap) == []  # primary key
    # young statistics are not evidence enough to drop anything: no fix is offered
    assert finding.fix is None and finding.verify and "7 days" in finding.verify
    [acted] = found(db, "unused_index", "public.un_t_a_idx", snap, min_stats_age_days=0)
    apply_and_revert(db, "unused_index", "public.un_t_a_idx", acted.fix)

    # the same real snapshot, with statistics a month old, weighs the index by size
    aged = replace(snap, database=replace(snap.database, stats_reset="2020-01-01T00:00:00+00:00"))
    [old] = found(db, "unused_index", "public.un_t_a_idx", aged, medium_db_fraction=1.0)
    assert old.severity is Severity.LOW and old.evidence["stats_age_days"] > 365
    # over 1 MiB of a database of a few MiB: a large share of it
    [big] = found(db, "unused_index", "public.un_t_a_idx", aged)
    assert big.severity is Severity.MEDIUM


def test_partitioned_indexes_are_judged_on_the_parent(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE ptree (id int, at date, note text) PARTITION BY RANGE (at);
        CREATE TABLE ptree_2025 PARTITION OF ptree FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE ptree_2026 PARTITION OF ptree FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO ptree SELECT g, date '2025-06-01' + g % 400, 'n'
            FROM generate_series(1, 2000) g;
        CREATE INDEX ptree_note ON ptree (note);
        CREATE INDEX ptree_note_copy ON ptree (note);
        """
    )
    snap = db.snapshot()
    # partitions' copies are attached to the parents' indexes: only the parents speak
    act_now = Config(options={"unused_index": {"min_stats_age_days": 0}})
    [unused] = [
        x for x in db.findings("unused_index", snap, act_now) if x.object.startswith("public.ptree")
    ]
    assert unused.object == "public.ptree_note" and unused.evidence["partitioned"] is True
    assert unused.evidence["size_bytes"] > 0
    [dup] = [x for x in db.findings("duplicate_index", snap) if x.object.startswith("public.ptree")]
    assert dup.object == "public.ptree_note_copy" and dup.fix is not None
    assert dup.fix.transactional and "CONCURRENTLY" not in dup.fix.sql + (
        dup.fix.rollback_sql or ""
    )
    apply_and_revert(db, "duplicate_index", "public.ptree_note_copy", dup.fix)
    # the rollback recreated the index on every partition, not ON ONLY the parent
    attached = db.query(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ptree_note_copy'::regclass"
    )
    assert attached == [(2,)]
    apply_and_revert(db, "unused_index", "public.ptree_note", unused.fix)


# -- duplicate_index and redundant_index --


def test_duplicate_index_fires_and_its_fix_works(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE dup_t (id int PRIMARY KEY, a int, b text);
        CREATE INDEX dup_t_a1 ON dup_t (a) INCLUDE (b) WHERE a > 0;
        CREATE INDEX dup_t_a2 ON dup_t (a) INCLUDE (b) WHERE a > 0;
        CREATE INDEX dup_t_a_desc ON dup_t (a DESC) INCLUDE (b) WHERE a > 0;
        CREATE INDEX dup_t_b_c ON dup_t (b COLLATE "C");
        CREATE INDEX dup_t_b ON dup_t (b);
        """
    )
    [finding] = found(db, "duplicate_index", "public.dup_t_a2")
    assert finding.evidence["duplicate_of"] == "public.dup_t_a1"
    assert not any(x.object.startswith("public.dup_t_b") for x in db.findings("duplicate_index"))
    apply_and_revert(db, "duplicate_index", "public.dup_t_a2", finding.fix)


def test_duplicate_constraints_get_no_sql_fix(db: TestDatabase) -> None:
    # in one CREATE TABLE PostgreSQL would merge them; added later, both indexes exist
    db.execute(
        "CREATE TABLE dupc_t (id int PRIMARY KEY);"
        "ALTER TABLE dupc_t ADD CONSTRAINT dupc_t_id_key UNIQUE (id)"
    )
    [finding] = found(db, "duplicate_index", "public.dupc_t_id_key")
    assert finding.evidence["duplicate_of"] == "public.dupc_t_pkey" and finding.fix is None


def test_redundant_index_fires_and_its_fix_works(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE red_t (id int PRIMARY KEY, a int, b int);
        CREATE INDEX red_t_a ON red_t (a);
        CREATE INDEX red_t_a_b ON red_t (a, b);
        CREATE INDEX red_t_b ON red_t (b);
        CREATE UNIQUE INDEX red_t_id_a ON red_t (id, a);
        """
    )
    [finding] = found(db, "redundant_index", "public.red_t_a")
    assert finding.evidence["covering_index"] == "public.red_t_a_b"
    assert finding.severity is Severity.LOW
    objects = [x.object for x in db.findings("redundant_index")]
    assert "public.red_t_b" not in objects and "public.red_t_pkey" not in objects
    apply_and_revert(db, "redundant_index", "public.red_t_a", finding.fix)


# -- invalid_index --


def test_failed_concurrent_build_is_invalid_and_rebuilt(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        """
        CREATE FUNCTION picky(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE
            AS $$ BEGIN IF x = 13 THEN RAISE 'unlucky'; END IF; RETURN x; END $$;
        CREATE TABLE inv_t (a int);
        INSERT INTO inv_t SELECT generate_series(1, 100);
        """
    )
    with pytest.raises(psycopg.errors.RaiseException):
        fresh_db.execute("CREATE INDEX CONCURRENTLY inv_t_picky ON inv_t (picky(a))")
    [finding] = found(fresh_db, "invalid_index", "public.inv_t_picky")
    assert finding.severity is Severity.HIGH
    assert finding.evidence["build_check"] == "no build in progress"
    # the build failed before the index became ready: writes never maintained it
    assert finding.evidence["is_ready"] is False and finding.evidence["valid_twin"] is None
    assert finding.fix is not None and finding.fix.transactional is False
    assert found(fresh_db, "unused_index", "public.inv_t_picky") == []

    fresh_db.execute(
        "CREATE OR REPLACE FUNCTION picky(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x'"
    )
    fresh_db.run_script(finding.fix.sql)
    assert found(fresh_db, "invalid_index", "public.inv_t_picky") == []
    assert index_exists(fresh_db, "public", "inv_t_picky")
    # the rollback removes the rebuilt index: an invalid one served no query either
    fresh_db.run_script(finding.fix.rollback_sql or "")
    assert not index_exists(fresh_db, "public", "inv_t_picky")


def test_reindex_leftover_is_only_dropped(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        """
        CREATE FUNCTION picky(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x';
        CREATE TABLE rx_t (a int);
        INSERT INTO rx_t SELECT generate_series(1, 100);
        CREATE INDEX rx_t_picky ON rx_t (picky(a));
        CREATE OR REPLACE FUNCTION picky(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE
            AS $$ BEGIN IF x = 13 THEN RAISE 'unlucky'; END IF; RETURN x; END $$;
        """
    )
    with pytest.raises(psycopg.errors.RaiseException):
        fresh_db.execute("REINDEX INDEX CONCURRENTLY rx_t_picky")
    [finding] = found(fresh_db, "invalid_index", "public.rx_t_picky_ccnew")
    assert finding.evidence["valid_twin"] == "public.rx_t_picky"
    assert finding.fix is not None and finding.fix.rollback_sql is None
    fresh_db.run_script(finding.fix.sql)
    assert fresh_db.findings("invalid_index") == []
    assert index_exists(fresh_db, "public", "rx_t_picky")


def test_index_being_built_concurrently_is_not_reported(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        "CREATE TABLE build_t (a int); INSERT INTO build_t SELECT generate_series(1, 10)"
    )
    with psycopg.connect(fresh_db.dsn, autocommit=True) as writer:
        writer.execute("BEGIN")
        writer.execute("INSERT INTO build_t VALUES (11)")  # the build waits for this writer
        builder = threading.Thread(
            target=fresh_db.execute, args=("CREATE INDEX CONCURRENTLY build_t_a ON build_t (a)",)
        )
        builder.start()
        try:
            snap = _wait_for_invalid_index(fresh_db, "build_t_a")
            table = snap.table("public", "build_t")
            assert table is not None and table.index_build_running
            assert found(fresh_db, "invalid_index", "public.build_t_a", snap) == []
        finally:
            writer.execute("COMMIT")
            builder.join(timeout=30)
    assert index_exists(fresh_db, "public", "build_t_a")


def _wait_for_invalid_index(db: TestDatabase, name: str) -> Snapshot:
    for _ in range(100):
        snap = db.snapshot()
        if any(i.name == name and not i.is_valid for i in snap.indexes):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"{name} never appeared")
