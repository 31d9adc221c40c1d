"""What-if costing on a real database: HypoPG sessions, the plan cache, generic plans, DML,
errors and timeouts, real indexes in rolled-back transactions, the LIMIT trap, and index
size estimates measured against real CREATE INDEX and HypoPG."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from prodready.advisor.analysis import TableName
from prodready.advisor.candidates import IndexKey, make
from prodready.advisor.sizes import ColumnStats, KeyWidth, TableStats, btree_bytes
from prodready.advisor.whatif import PlannedStatement, WhatIf, WhatIfError
from tests.conftest import TestDatabase

ORDERS = TableName("public", "orders")
ITEMS = TableName("public", "items")
DOCS = TableName("public", "docs")

SCHEMA = """
CREATE EXTENSION hypopg;
CREATE TABLE orders (
    id bigint PRIMARY KEY, buyer_id int NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL, total int NOT NULL
);
CREATE TABLE items (id bigint PRIMARY KEY, order_id int NOT NULL, product_id int NOT NULL);
CREATE INDEX items_product_idx ON items (product_id);
CREATE TABLE docs (id int PRIMARY KEY, search tsvector NOT NULL);
INSERT INTO orders
SELECT g, 1 + (g * 7919::bigint) % 500, (ARRAY['paid', 'shipped', 'delivered'])[1 + g % 3],
       now() - g * interval '1 minute', g % 1000
FROM generate_series(1, 200000) g;
UPDATE orders SET buyer_id = 9999 WHERE id > 199970;
-- a foreign key column with few distinct values: where B-tree deduplication shines
INSERT INTO items SELECT g, 1 + g % 300, g % 40 FROM generate_series(1, 300000) g;
INSERT INTO docs SELECT g, to_tsvector('english', 'note ' || g || ' about cats')
FROM generate_series(1, 20000) g;
CREATE FUNCTION slow_constant() RETURNS int IMMUTABLE LANGUAGE sql
AS 'SELECT 1 FROM pg_sleep(0.3)';
VACUUM ANALYZE;
"""

LATEST_OF_BUYER = (
    "SELECT id, total FROM orders WHERE buyer_id = 9999 ORDER BY created_at DESC LIMIT 50"
)


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.run_script(SCHEMA)
    return db


@pytest.fixture
def conn(shop: TestDatabase) -> Iterator[psycopg.Connection]:
    with psycopg.connect(shop.dsn, autocommit=True) as connection:
        connection.execute("SET max_parallel_workers_per_gather = 0")
        yield connection


def stmt(sql_text: str, *tables: TableName, sid: int = 1, **kw: object) -> PlannedStatement:
    return PlannedStatement(sid, sql_text, frozenset(tables or (ORDERS,)), **kw)  # type: ignore[arg-type]


BY_BUYER = make(ORDERS, [IndexKey("buyer_id")])
BUYER_RECENT = make(ORDERS, [IndexKey("buyer_id"), IndexKey("created_at", desc=True)])
CREATED = make(ORDERS, [IndexKey("created_at")])
ITEM_ORDER = make(ITEMS, [IndexKey("order_id")])


def test_hypothetical_index_lowers_the_cost_and_plans_are_cached(
    conn: psycopg.Connection,
) -> None:
    query = stmt("SELECT id FROM orders WHERE buyer_id = 7")
    with WhatIf(conn) as whatif:
        before = whatif.plan(query, ())
        after = whatif.plan(query, {BY_BUYER})
        assert after.cost < before.cost / 3
        assert after.used == {BY_BUYER} and before.used == frozenset()
        assert whatif.planner_calls == 2 and whatif.cache_hits == 0
        # the same question again, or with an index on another table: answered from cache
        whatif.plan(query, {BY_BUYER})
        whatif.plan(query, {BY_BUYER, ITEM_ORDER})
        assert whatif.planner_calls == 2 and whatif.cache_hits == 2
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)


def test_existing_indexes_in_plans_are_reported(conn: psycopg.Connection) -> None:
    with WhatIf(conn) as whatif:
        plain = whatif.plan(stmt("SELECT id FROM items WHERE product_id = 3", ITEMS), ())
        bitmap = whatif.plan(
            stmt("SELECT id FROM items WHERE product_id IN (3, 4, 5, 6)", ITEMS, sid=2), ()
        )
    assert plain.used_existing == {("public", "items_product_idx")}
    assert bitmap.used_existing == {("public", "items_product_idx")}


def test_generic_statements_are_prepared_anew_for_each_configuration(
    conn: psycopg.Connection,
) -> None:
    query = stmt(
        "SELECT id FROM orders WHERE buyer_id = $1 ORDER BY created_at DESC LIMIT 50",
        generic=True,
        param_types=("integer",),
    )
    with WhatIf(conn) as whatif:
        base = whatif.plan(query, ())
        with_index = whatif.plan(query, {BUYER_RECENT})
        again = whatif.plan(query, {BY_BUYER})
    assert with_index.cost < base.cost / 10
    assert with_index.used == {BUYER_RECENT} and again.used == {BY_BUYER}
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    assert conn.execute("SHOW plan_cache_mode").fetchone() == ("auto",)


def test_dml_is_explained_never_executed(conn: psycopg.Connection) -> None:
    update = stmt("UPDATE orders SET total = 0 WHERE buyer_id = 7", writes=True)
    delete = stmt("DELETE FROM orders WHERE buyer_id = 8", sid=2, writes=True)
    with WhatIf(conn) as whatif:
        cost = whatif.plan(update, {BY_BUYER})
        whatif.plan(delete, {BY_BUYER})
    assert cost.used == {BY_BUYER}
    assert cost.rows_written > 100
    assert conn.execute("SELECT count(*) FROM orders WHERE buyer_id IN (7, 8)").fetchone()[0] > 0
    assert (
        conn.execute("SELECT count(*) FROM orders WHERE total = 0 AND buyer_id = 7").fetchone()[0]
        < 10
    )


def test_errors_and_timeouts_become_whatif_errors(conn: psycopg.Connection) -> None:
    with WhatIf(conn, timeout_ms=100) as whatif:
        with pytest.raises(WhatIfError, match='column "nope" does not exist'):
            whatif.plan(stmt("SELECT nope FROM orders"), ())
        with pytest.raises(WhatIfError, match="timed out"):
            whatif.plan(stmt("SELECT id FROM orders WHERE id = slow_constant()", sid=2), ())
        # the session still works afterwards
        assert whatif.plan(stmt("SELECT 1 FROM orders LIMIT 1", sid=3), ()).cost > 0


def test_a_candidate_hypopg_refuses_is_recorded_and_ignored(conn: psycopg.Connection) -> None:
    # date_trunc on timestamptz is not immutable: no index can be built on it
    volatile = make(ORDERS, [IndexKey("date_trunc('day', created_at)", is_column=False)])
    query = stmt("SELECT id FROM orders WHERE buyer_id = 3")
    with WhatIf(conn) as whatif:
        base = whatif.plan(query, ())
        cost = whatif.plan(query, {volatile})
    assert cost.cost == base.cost
    assert "IMMUTABLE" in whatif.broken[volatile]


def test_limit_over_a_filtering_index_scan_has_a_pessimistic_bound(
    conn: psycopg.Connection,
) -> None:
    """A plain created_at index looks cheap for one buyer's newest orders (the planner expects
    them early in the scan); buyer 9999's are the oldest, so the scan reads everything."""
    query = stmt(LATEST_OF_BUYER)
    with WhatIf(conn) as whatif:
        base = whatif.plan(query, ())
        risky = whatif.plan(query, {CREATED})
        safe = whatif.plan(query, {BUYER_RECENT})
    assert risky.cost < base.cost  # what an estimate-only advisor sees
    assert risky.worst > base.cost
    assert risky.risk is not None and "LIMIT" in risky.risk
    assert safe.worst == safe.cost < base.cost
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE INDEX ON orders (created_at)")
        plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {LATEST_OF_BUYER}").fetchone()[0][0]
    assert plan["Plan"]["Plans"][0]["Rows Removed by Filter"] > 190_000


def test_real_indexes_in_a_rolled_back_transaction(conn: psycopg.Connection) -> None:
    query = stmt("SELECT id FROM orders WHERE buyer_id = 7")
    fulltext = stmt(
        "SELECT id FROM docs WHERE search @@ to_tsquery('english', '12345')", DOCS, sid=2
    )
    gin = make(DOCS, [IndexKey("search")], method="gin", search="fulltext")
    indexes = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"
    count = conn.execute(indexes).fetchone()
    with WhatIf(conn, mode="real") as real, WhatIf(conn) as hypothetical:
        assert real.supports(gin) and not hypothetical.supports(gin)
        real_cost = real.plan(query, {BY_BUYER})
        hypo_cost = hypothetical.plan(query, {BY_BUYER})
        assert real_cost.used == {BY_BUYER}
        assert 0.5 < real_cost.cost / hypo_cost.cost < 2
        base = real.plan(fulltext, ())
        assert real.plan(fulltext, {gin}).cost < base.cost
    assert conn.execute(indexes).fetchone() == count
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_size_estimate_beats_hypopg_on_a_low_cardinality_foreign_key(
    conn: psycopg.Connection,
) -> None:
    """items.order_id has 300 distinct values over 300,000 rows: deduplication packs each
    into posting lists, which HypoPG's rows x width estimate ignores."""
    rows = conn.execute(
        "SELECT c.reltuples, s.n_distinct, s.avg_width, s.null_frac FROM pg_class c"
        " JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'order_id'"
        " WHERE c.relname = 'items'"
    ).fetchone()
    reltuples, n_distinct, avg_width, null_frac = rows
    column = ColumnStats("order_id", "integer", 4, "i", True, avg_width, null_frac, n_distinct)
    table = TableStats(ITEMS, "r", reltuples, 0, {"order_id": column})
    ours = btree_bytes(table, [KeyWidth(4, 4, 0.0, "order_id")])
    oid = conn.execute(
        "SELECT indexrelid FROM hypopg_create_index('CREATE INDEX ON items (order_id)')"
    ).fetchone()[0]
    hypopg = conn.execute("SELECT hypopg_relation_size(%s)", (oid,)).fetchone()[0]
    conn.execute("SELECT hypopg_reset()")
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE INDEX items_order_probe ON items (order_id)")
        real = conn.execute("SELECT pg_relation_size('items_order_probe')").fetchone()[0]
    assert 0.85 < ours / real < 1.15
    assert hypopg / real > 2.4


def test_the_session_is_left_as_it_was(conn: psycopg.Connection) -> None:
    conn.execute("SET statement_timeout = '5s'")
    with WhatIf(conn, timeout_ms=1234) as whatif:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
        whatif.plan(stmt("SELECT id FROM orders WHERE buyer_id = 1"), {BY_BUYER, CREATED})
    assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
    assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)
