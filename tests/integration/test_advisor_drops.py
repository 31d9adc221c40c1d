"""Drop advice validated against the workload's plans: unused, duplicate, prefix-redundant and
replaced indexes; constraint-backing ones never."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from prodready.advisor.drops import advise_drops
from prodready.advisor.engine import advise
from prodready.advisor.model import AdvisorResult, BoundQuery
from prodready.db.collect import collect_from
from tests import factories as f
from tests.conftest import TestDatabase

SCHEMA = """
CREATE EXTENSION hypopg;
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    code text NOT NULL UNIQUE,
    buyer_id int NOT NULL,
    seller_id int NOT NULL,
    status text NOT NULL,
    note text,
    created_at timestamptz NOT NULL
);
CREATE INDEX orders_note_idx ON orders (note);
CREATE INDEX orders_buyer_idx ON orders (buyer_id);
CREATE INDEX orders_status_a ON orders (status);
CREATE INDEX orders_status_b ON orders (status);
CREATE INDEX orders_seller_idx ON orders (seller_id);
CREATE INDEX orders_seller_created_idx ON orders (seller_id, created_at);
INSERT INTO orders
SELECT g, 'c' || g, g % 2000, g % 300, (ARRAY['paid', 'shipped', 'delivered'])[1 + g % 3],
       'note ' || g, now() - g * interval '1 minute'
FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
"""

BY_BUYER = "SELECT id, created_at FROM orders WHERE buyer_id = 7"
BY_SELLER = "SELECT id FROM orders WHERE seller_id = 7"


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.run_script(SCHEMA)
    return db


@pytest.fixture
def conn(shop: TestDatabase) -> Iterator[psycopg.Connection]:
    with psycopg.connect(shop.dsn, autocommit=True) as connection:
        connection.execute("SET max_parallel_workers_per_gather = 0")
        yield connection


def literal(text: str, calls: float = 100.0) -> BoundQuery:
    return f.literal_query(text, calls)


def drops(result: AdvisorResult) -> dict[str, str]:
    return {d.index: d.reason for d in result.drops}


def test_unused_index_no_plan_uses_is_dropped_and_a_used_one_is_not(
    conn: psycopg.Connection,
) -> None:
    snap = collect_from(conn)
    # statistics are minutes old here: the threshold is lowered to show the validation
    used = {("public", "orders_buyer_idx")}
    advice = advise_drops(snap, used, min_stats_age_days=0)
    found = {d.index: d for d in advice.drops}
    assert found["public.orders_note_idx"].reason == "unused"
    assert "no workload plan uses it" in found["public.orders_note_idx"].detail
    assert "public.orders_buyer_idx" not in found  # a workload plan uses it
    assert "public.orders_pkey" not in found and "public.orders_code_key" not in found
    assert found["public.orders_note_idx"].definition == (
        'DROP INDEX CONCURRENTLY "public"."orders_note_idx"'
    )
    assert found["public.orders_note_idx"].rollback == (
        "CREATE INDEX CONCURRENTLY orders_note_idx ON public.orders USING btree (note)"
    )


def test_through_the_advisor_plans_decide_and_young_statistics_only_note(
    conn: psycopg.Connection,
) -> None:
    result = advise(conn, [literal(BY_BUYER), literal(BY_SELLER)])
    found = drops(result)
    # identical twins: one goes, whichever the plans used
    assert found.get("public.orders_status_b") == "duplicate"
    assert "public.orders_status_a" not in found
    # (seller_id) leads (seller_id, created_at), but the workload's plan uses it
    assert "public.orders_seller_idx" not in found
    assert any("orders_seller_idx is prefix-redundant" in n for n in result.notes)
    assert "public.orders_buyer_idx" not in found
    assert "public.orders_note_idx" not in found  # unused, but statistics are too young
    assert any("look unused" in n and "orders_note_idx" in n for n in result.notes)
    assert not any(k in found for k in ("public.orders_pkey", "public.orders_code_key"))


def test_prefix_redundant_index_no_plan_uses_is_dropped(conn: psycopg.Connection) -> None:
    result = advise(conn, [literal(BY_BUYER)])
    assert drops(result).get("public.orders_seller_idx") == "redundant"
    drop = next(d for d in result.drops if d.index == "public.orders_seller_idx")
    assert "orders_seller_created_idx" in drop.detail


def test_an_index_the_recommended_one_replaces(conn: psycopg.Connection) -> None:
    query = "SELECT id FROM orders WHERE buyer_id = 7 ORDER BY created_at DESC LIMIT 20"
    result = advise(conn, [literal(query, 1000)])
    [index] = result.indexes
    assert index.definition.endswith('("buyer_id", "created_at" DESC)')
    assert drops(result).get("public.orders_buyer_idx") == "redundant"
    drop = next(d for d in result.drops if d.index == "public.orders_buyer_idx")
    assert "only after creating" in drop.detail


def test_drop_and_its_rollback_run(shop: TestDatabase, conn: psycopg.Connection) -> None:
    result = advise(conn, [literal(BY_BUYER)])
    drop = next(d for d in result.drops if d.index == "public.orders_status_b")
    shop.execute(drop.definition)
    assert "public.orders_status_b" not in drops(advise(conn, [literal(BY_BUYER)]))
    shop.execute(drop.rollback)
    assert drops(advise(conn, [literal(BY_BUYER)]))["public.orders_status_b"] == "duplicate"
