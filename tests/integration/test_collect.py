"""The collector against a real database: sections, round-trip, and what it cannot see."""

from __future__ import annotations

import json

from prodready.db.snapshot import PGSS_ACCESS, Snapshot
from tests.conftest import TestDatabase


def test_snapshot_sections_and_round_trip(db: TestDatabase) -> None:
    db.execute(
        """
        CREATE TABLE orders (id bigserial PRIMARY KEY, buyer_id int, "Total €" numeric);
        CREATE INDEX orders_buyer_idx ON orders (buyer_id DESC) WHERE buyer_id IS NOT NULL;
        INSERT INTO orders (buyer_id) SELECT g % 10 FROM generate_series(1, 500) g;
        ANALYZE orders;
        """
    )
    snap = db.snapshot()
    assert snap.server.version_num >= 130000
    assert snap.database.name == db.name
    orders = snap.table("public", "orders")
    assert orders is not None and orders.has_primary_key and orders.n_tup_ins == 500
    assert orders.total_bytes and orders.total_bytes > 0
    idx = next(i for i in snap.indexes if i.name == "orders_buyer_idx")
    assert idx.columns == ["buyer_id"] and idx.options == [3] and idx.predicate
    assert [c.name for c in snap.columns_by_table[("public", "orders")]] == [
        "id", "buyer_id", "Total €",
    ]  # fmt: skip
    seq = next(s for s in snap.sequences if s.name == "orders_id_seq")
    assert seq.last_value == 500 and seq.owned_by_column == "id"
    assert snap.extension_map["pg_stat_statements"].schema == "public"
    assert snap.statements is not None
    assert not any("/* prodready */" in (s.query or "") for s in snap.statements)

    again = Snapshot.from_json(json.loads(json.dumps(snap.to_json())))
    assert again == snap


def test_pg_stat_statements_out_of_reach_is_a_grant_not_a_missing_extension(
    fresh_db: TestDatabase,
) -> None:
    fresh_db.execute(
        """
        DROP EXTENSION pg_stat_statements;
        CREATE SCHEMA hidden_ext;
        CREATE EXTENSION pg_stat_statements SCHEMA hidden_ext;
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgss_blind') THEN
            CREATE ROLE pgss_blind LOGIN PASSWORD 'blind-pw' IN ROLE pg_monitor;
          END IF;
        END $$;
        """
    )
    blind = fresh_db.snapshot(fresh_db.dsn_as("pgss_blind", "blind-pw"))
    assert blind.statements is None
    access = blind.limited(PGSS_ACCESS)
    assert access is not None
    assert 'GRANT USAGE ON SCHEMA "hidden_ext" TO "pgss_blind"' in access.reason
    assert fresh_db.findings("pg_stat_statements_missing", blind) == []
    limits = fresh_db.findings("collector_limitations", blind)
    assert [f.object for f in limits] == [f"collector: {PGSS_ACCESS}"]

    fresh_db.execute("GRANT USAGE ON SCHEMA hidden_ext TO pgss_blind")
    seeing = fresh_db.snapshot(fresh_db.dsn_as("pgss_blind", "blind-pw"))
    assert seeing.statements is not None and seeing.limited(PGSS_ACCESS) is None
    assert fresh_db.findings("collector_limitations", seeing) == []
