"""The collector against a real database: sections, round-trip, and what it cannot see."""

from __future__ import annotations

import json

from prodready.db.snapshot import Snapshot
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
