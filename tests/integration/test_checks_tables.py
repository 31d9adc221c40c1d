"""Table checks against a real database: primary keys, sequential scans, bloat, vacuum and
statistics; each fires, stays silent, and its fix runs (also on hostile identifiers)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from prodready.db.checks.tables import estimate_bloat
from prodready.db.snapshot import Snapshot, qualify
from prodready.model import Finding, Severity
from tests.conftest import TestDatabase

MIB = 1024 * 1024
HOSTILE_SCHEMA = "Odd Schema"


def found(
    db: TestDatabase, check: str, obj: str, snap: Snapshot | None = None, **options: object
) -> list[Finding]:
    return db.findings_about(check, obj, snap, **options)


def ident(*names: str) -> str:
    return sql.Identifier(*names).as_string(None)


@pytest.fixture(scope="module", autouse=True)
def hostile_schema(db: TestDatabase) -> None:
    db.execute(f"CREATE SCHEMA {ident(HOSTILE_SCHEMA)}")


# -- missing_primary_key --


def test_missing_primary_key_without_candidate_has_no_fix(db: TestDatabase) -> None:
    db.execute(
        "CREATE TABLE mpk_log (at timestamptz, msg text); INSERT INTO mpk_log VALUES (now(), 'x')"
    )
    [finding] = found(db, "missing_primary_key", "public.mpk_log")
    assert finding.severity is Severity.MEDIUM and finding.fix is None
    assert finding.evidence["promotable_index"] is None


@pytest.mark.parametrize("name", ["mpk_codes", 'select "quoted" ü'])
def test_unique_not_null_index_is_promoted_and_restored(db: TestDatabase, name: str) -> None:
    table = ident(HOSTILE_SCHEMA, name)
    index = ident(name[:40] + " code key")
    db.execute(
        f"CREATE TABLE {table} (code text NOT NULL, note text);"
        f"CREATE UNIQUE INDEX {index} ON {table} (code);"
        f"INSERT INTO {table} VALUES ('a', NULL), ('b', 'x')"
    )
    obj = qualify(HOSTILE_SCHEMA, name)
    [finding] = found(db, "missing_primary_key", obj)
    assert finding.evidence["promotable_index"] == qualify(HOSTILE_SCHEMA, name[:40] + " code key")
    assert finding.fix is not None and finding.fix.transactional and finding.fix.rollback_sql
    db.execute(finding.fix.sql)
    assert found(db, "missing_primary_key", obj) == []
    db.execute(finding.fix.rollback_sql)  # one transaction: drop the key, recreate the index
    [again] = found(db, "missing_primary_key", obj)
    assert again.evidence["promotable_index"] == finding.evidence["promotable_index"]


def test_partitioned_table_gets_a_primary_key_postgresql_accepts(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE mpk_events (id bigint NOT NULL, at date NOT NULL, body text)
            PARTITION BY RANGE (at);
        CREATE TABLE mpk_events_1 PARTITION OF mpk_events
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE UNIQUE INDEX mpk_events_id_at ON mpk_events (id, at);
        CREATE TABLE mpk_bare (id bigint, at date) PARTITION BY RANGE (at);
        """
    )
    [finding] = found(db, "missing_primary_key", "public.mpk_events")
    assert finding.evidence["partition_key"] == "RANGE (at)"
    assert finding.evidence["unique_index"] == "public.mpk_events_id_at"
    assert "identity" in finding.detail and finding.fix is not None
    # what used to be suggested is refused; what is suggested now runs and rolls back
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        db.execute("ALTER TABLE mpk_bare ADD COLUMN pk bigint GENERATED ALWAYS AS IDENTITY "
                   "PRIMARY KEY")  # fmt: skip
    db.execute(finding.fix.sql)
    assert found(db, "missing_primary_key", "public.mpk_events") == []
    db.execute(finding.fix.rollback_sql or "")
    [bare] = found(db, "missing_primary_key", "public.mpk_bare")
    assert bare.fix is None and "PRIMARY KEY (id, at)" in bare.detail


def test_partitions_are_judged_through_their_parent(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE mpk_keyed (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE mpk_keyed_1 PARTITION OF mpk_keyed
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE mpk_loose (id int, at date) PARTITION BY RANGE (at);
        CREATE TABLE mpk_loose_1 PARTITION OF mpk_loose
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        """
    )
    objects = {x.object for x in db.findings("missing_primary_key")}
    assert "public.mpk_loose" in objects
    assert not objects & {"public.mpk_keyed", "public.mpk_keyed_1", "public.mpk_loose_1"}


# -- seq_scan_heavy_table --


def test_sequential_scans_on_a_large_table_fire(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE seq_t (id int PRIMARY KEY, email text);
        INSERT INTO seq_t SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 20000) g;
        ANALYZE seq_t;
        """
    )
    # 120 lookups by an unindexed column: each reads the whole table
    db.execute("; ".join(f"SELECT id FROM seq_t WHERE email = 'user{n}@example.com'"
                         for n in range(120)))  # fmt: skip
    db.execute("SET enable_seqscan = off; SELECT email FROM seq_t WHERE id = 5")
    [finding] = found(db, "seq_scan_heavy_table", "public.seq_t")
    ev = finding.evidence
    assert ev["seq_scan"] >= 120 and ev["idx_scan"] >= 1 and ev["n_live_tup"] == 20000
    assert ev["rows_per_seq_scan"] >= 19_000 and ev["seq_scan_share"] > 0.9
    assert finding.fix is None and "prodready advise" in finding.detail


def test_indexed_lookups_are_not_seq_scan_heavy(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE seq_ok (id int PRIMARY KEY, email text);
        INSERT INTO seq_ok SELECT g, 'u' || g FROM generate_series(1, 20000) g;
        ANALYZE seq_ok;
        """
    )
    db.execute("; ".join(f"SELECT email FROM seq_ok WHERE id = {n}" for n in range(150)))
    assert found(db, "seq_scan_heavy_table", "public.seq_ok") == []


# -- table_bloat --


def test_bloated_table_fires_and_vacuum_full_clears_it(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE bloat_t (id int, at timestamptz, pad text) WITH (autovacuum_enabled = off);
        INSERT INTO bloat_t SELECT g, now(), repeat('x', 40) FROM generate_series(1, 200000) g;
        DELETE FROM bloat_t WHERE id % 10 <> 0;
        """
    )
    db.execute("VACUUM (ANALYZE) bloat_t")  # frees the rows for reuse but keeps the pages
    [finding] = found(db, "table_bloat", "public.bloat_t")
    ev = finding.evidence
    assert ev["heap_bytes"] > 12 * MIB and 0.85 < ev["bloat_ratio"] < 0.95
    assert ev["reltuples"] == 20000 and ev["estimated_row_bytes"] == 88
    assert finding.fix is None and "pg_repack" in finding.detail
    db.execute("VACUUM FULL bloat_t")
    assert found(db, "table_bloat", "public.bloat_t") == []


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        ("id bigint, at timestamptz, pad text", "g, now(), repeat('x', 40)"),
        ("flag boolean, n bigint, note text, f2 boolean, amount numeric",
         "g % 2 = 0, g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, true, g * 1.5"),
        ("a int, b smallint, c double precision, d uuid, e varchar(20)",
         "g, 1, g / 3.0, md5(g::text)::uuid, 'v' || g"),
    ],
    ids=["wide-text", "nulls-and-padding", "mixed-fixed"],
)  # fmt: skip
def test_bloat_estimate_matches_a_freshly_loaded_table(
    db: TestDatabase, columns: str, rows: str
) -> None:
    name = f"dense_{abs(hash(columns)) % 10_000}"
    db.execute(
        f"CREATE TABLE {name} ({columns}) WITH (fillfactor = 90);"
        f"INSERT INTO {name} SELECT {rows} FROM generate_series(1, 50000) g;"
        f"ANALYZE {name};"
    )
    snap = db.snapshot()
    table = snap.table("public", name)
    assert table is not None
    estimate = estimate_bloat(snap, table)
    assert estimate is not None and estimate.fillfactor == 90
    # a table just loaded has no waste: the estimate lands within a few percent
    assert estimate.ratio < 0.08 and estimate.expected_bytes <= estimate.actual_bytes * 1.05
    assert found(db, "table_bloat", f"public.{name}", snap, min_table_bytes=0) == []


# -- vacuum_overdue and stale_statistics --


def test_vacuum_overdue_fires_and_vacuum_clears_it(db: TestDatabase) -> None:
    name = 'a"b c ünï'
    table = ident(HOSTILE_SCHEMA, name)
    db.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = false);"
        f"INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 30000) g"
    )
    db.execute(f"ANALYZE {table}")
    db.execute(f"UPDATE {table} SET n = 1")
    obj = qualify(HOSTILE_SCHEMA, name)
    [finding] = found(db, "vacuum_overdue", obj)
    ev = finding.evidence
    assert ev["n_dead_tup"] == 30000 and ev["autovacuum_trigger"] == 6050
    assert ev["autovacuum_enabled"] is False and finding.severity is Severity.MEDIUM
    assert finding.fix is not None and finding.fix.transactional is False
    assert finding.fix.rollback_sql is None
    db.execute(finding.fix.sql)
    assert found(db, "vacuum_overdue", obj) == []


def test_few_dead_rows_are_not_overdue(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE vac_ok (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = false);
        INSERT INTO vac_ok SELECT g, 0 FROM generate_series(1, 30000) g;
        """
    )
    db.execute("ANALYZE vac_ok")
    db.execute("UPDATE vac_ok SET n = 1 WHERE id <= 5000")
    assert found(db, "vacuum_overdue", "public.vac_ok") == []


def test_never_analyzed_table_fires_and_analyze_clears_it(db: TestDatabase) -> None:
    table = ident(HOSTILE_SCHEMA, "select")
    db.execute(
        f"CREATE TABLE {table} (id int, payload jsonb) WITH (autovacuum_enabled = false);"
        f"INSERT INTO {table} SELECT g, '{{}}' FROM generate_series(1, 5000) g;"
    )
    obj = qualify(HOSTILE_SCHEMA, "select")
    [finding] = found(db, "stale_statistics", obj)
    assert finding.evidence["rows"] == 5000 and finding.evidence["last_analyze"] is None
    assert "never been analyzed" in finding.detail
    assert finding.fix is not None and finding.fix.transactional
    db.execute(finding.fix.sql)
    assert found(db, "stale_statistics", obj) == []


def test_statistics_gone_stale_fire(db: TestDatabase) -> None:
    for name, updated in (("stale_t", 4000), ("fresh_t", 1000)):
        # separate calls: the inserts must commit before ANALYZE resets the counter
        db.execute(
            f"CREATE TABLE {name} (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = false);"
            f"INSERT INTO {name} SELECT g, 0 FROM generate_series(1, 10000) g"
        )
        db.execute(f"ANALYZE {name}")
        db.execute(f"UPDATE {name} SET n = 1 WHERE id <= {updated}")
    [finding] = found(db, "stale_statistics", "public.stale_t")
    assert finding.evidence["n_mod_since_analyze"] == 4000
    assert finding.evidence["autoanalyze_trigger"] == 1050
    assert "autovacuum_enabled=false" in finding.detail
    assert found(db, "stale_statistics", "public.fresh_t") == []  # 1,000 is under twice 1,050
    assert finding.fix is not None
    db.run_script(finding.fix.sql)
    assert found(db, "stale_statistics", "public.stale_t") == []
