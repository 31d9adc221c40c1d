"""Candidate generation: shapes, ordering, partial/covering/expression/GIN variants, DDL."""

from __future__ import annotations

from typing import Any

from prodready.advisor.analysis import SimpleCatalog, TableName, analyze
from prodready.advisor.candidates import (
    Candidate,
    Generator,
    IndexKey,
    extended,
    make,
    served_by,
)
from prodready.advisor.sizes import ColumnStats, TableStats
from prodready.db import snapshot as s
from prodready.sqlgen import render
from tests import factories as f

ORDERS = TableName("public", "orders")
USERS = TableName("public", "users")
ROWS = 1_000_000.0


def column(name: str, distinct: float, type_: str = "integer", **kw: Any) -> ColumnStats:
    return ColumnStats(name, type_, 4, "i", True, 4, 0.0, distinct, **kw)


ORDER_STATS = TableStats(
    ORDERS,
    "r",
    ROWS,
    10_000,
    {
        "id": column("id", -1.0, "bigint"),
        "buyer_id": column("buyer_id", 50_000),
        "seller_id": column("seller_id", 2_000),
        "status": column(
            "status",
            4,
            "text",
            mcv=("delivered", "paid", "shipped", "pending"),
            mcf=(0.6, 0.2, 0.18, 0.02),
        ),
        "gift": column("gift", 2, "boolean", mcv=("f", "t"), mcf=(0.9, 0.1)),
        "total": column("total", 5_000, "numeric"),
        "created_at": column("created_at", -1.0, "timestamp with time zone"),
        "deleted_at": ColumnStats("deleted_at", "timestamptz", 8, "d", False, 8, 0.97, 1000),
        "note": column("note", 10, "text"),
        "data": column("data", -0.5, "jsonb"),
        "search": column("search", -0.5, "tsvector"),
    },
)
USER_STATS = TableStats(
    USERS, "r", 50_000.0, 500, {"id": column("id", -1.0), "email": column("email", -1.0, "text")}
)
CATALOG = SimpleCatalog(
    {
        ORDERS: ("r", frozenset(ORDER_STATS.columns)),
        USERS: ("r", frozenset(USER_STATS.columns)),
    }
)


def candidates(sql_text: str, width: int = 3) -> set[Candidate]:
    generator = Generator({ORDERS: ORDER_STATS, USERS: USER_STATS}, width)
    generator.add_statement(1, analyze(sql_text, CATALOG))
    return set(generator.found)


def labels(found: set[Candidate]) -> set[str]:
    return {c.label() for c in found}


def test_equality_then_order_by_desc_for_limit_queries() -> None:
    found = labels(
        candidates(
            "SELECT id, total FROM orders WHERE buyer_id = $1 AND status IN ('paid', 'shipped')"
            " ORDER BY created_at DESC LIMIT 50"
        )
    )
    assert "public.orders(buyer_id, created_at DESC)" in found
    assert "public.orders(buyer_id, status, created_at DESC)" in found
    assert "public.orders(buyer_id, status)" in found
    assert "public.orders(created_at DESC)" in found  # what single-column advisors try
    assert "public.orders(buyer_id)" in found


def test_equality_columns_most_selective_first_and_unselective_ones_dropped() -> None:
    found = labels(
        candidates("SELECT id FROM orders WHERE status = $2 AND seller_id = $1 AND buyer_id = $3")
    )
    assert "public.orders(buyer_id, seller_id, status)" in found
    # a flag that keeps 90% of the rows is no key column
    flags = candidates("SELECT id FROM orders WHERE gift = false AND buyer_id = 3")
    assert "public.orders(buyer_id)" in labels(flags)
    assert all(IndexKey("gift") not in c.keys for c in flags)


def test_range_after_equality() -> None:
    found = labels(
        candidates(
            "SELECT id FROM orders WHERE seller_id = 9 AND created_at >= now() - '1 day'::interval"
        )
    )
    assert "public.orders(seller_id, created_at)" in found


def test_partial_index_for_a_rare_status() -> None:
    found = candidates(
        "SELECT id FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 20"
    )
    partial = [c for c in found if c.predicate]
    assert {c.label() for c in partial} >= {
        "public.orders(created_at) WHERE status = 'pending'",
    }
    pending = next(c for c in partial if c.keys == (IndexKey("created_at"),))
    assert pending.selectivity == 0.02
    assert "status" in pending.columns


def test_no_partial_index_for_common_values_or_identifiers() -> None:
    common = candidates("SELECT id FROM orders WHERE status = 'delivered' AND buyer_id = 1")
    assert not [c for c in common if c.predicate]
    # buyer 42 is rare, but it is an identifier, not a category
    ids = candidates("SELECT id FROM orders WHERE buyer_id = 42 ORDER BY created_at DESC LIMIT 5")
    assert not [c for c in ids if c.predicate]


def test_partial_index_for_a_null_test() -> None:
    found = candidates("SELECT id FROM orders WHERE deleted_at IS NOT NULL AND seller_id = 4")
    assert "public.orders(seller_id) WHERE deleted_at IS NOT NULL" in labels(found)


def test_covering_index_within_the_width() -> None:
    found = labels(candidates("SELECT total FROM orders WHERE buyer_id = $1", width=2))
    assert "public.orders(buyer_id) INCLUDE (total)" in found
    too_wide = labels(candidates("SELECT total, note FROM orders WHERE buyer_id = $1", width=2))
    assert not any("INCLUDE" in label for label in too_wide)
    star = labels(candidates("SELECT * FROM orders WHERE buyer_id = $1"))
    assert not any("INCLUDE" in label for label in star)


def test_width_is_respected() -> None:
    found = candidates(
        "SELECT id FROM orders WHERE buyer_id = 1 AND seller_id = 2 AND note = 'x'"
        " ORDER BY created_at DESC LIMIT 5",
        width=2,
    )
    assert max(c.width for c in found) == 2


def test_expression_candidate() -> None:
    found = labels(candidates("SELECT id FROM users WHERE lower(email) = lower($1)"))
    assert found == {"public.users((lower(email)))"}


def test_gin_candidates_for_searches() -> None:
    found = {
        c.label(): c for c in candidates("SELECT id FROM orders WHERE search @@ to_tsquery('x')")
    }
    assert list(found) == ["public.orders USING gin (search)"]
    trigram = candidates("SELECT id FROM orders WHERE note ILIKE '%abc%'")
    gin = [c for c in trigram if c.method == "gin"]
    assert [c.label() for c in gin] == ["public.orders USING gin (note gin_trgm_ops)"]
    assert gin[0].search == "trigram"


def test_join_column_candidates() -> None:
    found = labels(
        candidates(
            "SELECT u.email FROM orders o JOIN users u ON u.id = o.buyer_id WHERE o.seller_id = 3"
        )
    )
    assert {"public.orders(buyer_id, seller_id)", "public.orders(seller_id, buyer_id)"} <= found


def test_extended_adds_a_key_and_drops_it_from_include() -> None:
    base = make(ORDERS, [IndexKey("buyer_id")], ["total"])
    wider = extended(base, IndexKey("total"))
    assert wider.keys == (IndexKey("buyer_id"), IndexKey("total")) and wider.include == ()
    assert wider.columns == {"buyer_id", "total"}


def test_attributes_for_extend() -> None:
    generator = Generator({ORDERS: ORDER_STATS}, 3)
    analysis = analyze(
        "SELECT id FROM orders WHERE buyer_id = 1 AND total > 5 ORDER BY created_at DESC LIMIT 3",
        CATALOG,
    )
    assert generator.attributes([analysis])[ORDERS] == [
        IndexKey("buyer_id"),
        IndexKey("total"),
        IndexKey("created_at", desc=True),
    ]


# -- DDL --


def test_definition_quotes_names_and_renders_every_part() -> None:
    candidate = make(
        TableName("public", "Order Items"),
        [IndexKey("buyer_id"), IndexKey("created_at", desc=True, nulls_first=False)],
        ["total"],
        "status = 'pending'",
    )
    ddl = render(candidate.definition("order_items_idx", concurrently=True))
    assert ddl == (
        'CREATE INDEX CONCURRENTLY "order_items_idx" ON "public"."Order Items" '
        '("buyer_id", "created_at" DESC NULLS LAST) INCLUDE ("total") '
        "WHERE status = 'pending'"
    )
    parent = render(candidate.definition("x", concurrently=True, partitioned=True))
    assert parent.startswith('CREATE INDEX "x" ON')


def test_definition_of_expression_and_gin() -> None:
    expression = make(USERS, [IndexKey("lower(email)", is_column=False)])
    assert (
        render(expression.definition(None)) == 'CREATE INDEX ON "public"."users" ((lower(email)))'
    )
    gin = make(ORDERS, [IndexKey("note", opclass="gin_trgm_ops")], method="gin", search="trigram")
    assert render(gin.definition("g")) == (
        'CREATE INDEX "g" ON "public"."orders" USING gin ("note" "gin_trgm_ops")'
    )


def test_stem_is_readable() -> None:
    candidate = make(ORDERS, [IndexKey("buyer_id"), IndexKey("lower(note)", is_column=False)])
    assert candidate.stem() == "orders_buyer_id_lower_note"


# -- what existing indexes serve --


def index(columns: list[str], options: list[int] | None = None, **kw: Any) -> s.Index:
    keys = kw.pop("n_key_columns", len(columns))
    return f.index(
        "existing",
        table="orders",
        columns=columns,
        attnums=list(range(1, len(columns) + 1)),
        n_key_columns=keys,
        options=options or [0] * keys,
        opclasses=["int4_ops"] * keys,
        collations=[None] * keys,
        **kw,
    )


def test_served_by_a_longer_existing_index_in_either_direction() -> None:
    wanted = make(ORDERS, [IndexKey("buyer_id"), IndexKey("created_at", desc=True)])
    # indoption bits: 1 DESC, 2 NULLS FIRST (DESC's default)
    assert served_by(wanted, index(["buyer_id", "created_at", "id"], [0, 3, 0]))
    assert served_by(wanted, index(["buyer_id", "created_at"], [3, 0]))  # scanned backwards
    assert not served_by(wanted, index(["buyer_id", "created_at"], [0, 0]))
    assert not served_by(wanted, index(["buyer_id", "created_at"], [3, 3]))


def test_not_served_by_a_partial_a_shorter_or_an_uncovering_index() -> None:
    wanted = make(ORDERS, [IndexKey("buyer_id")], ["total"])
    assert not served_by(wanted, index(["buyer_id"], predicate="(status = 'x'::text)"))
    assert not served_by(wanted, index(["buyer_id"]))
    assert served_by(wanted, index(["buyer_id", "total"], n_key_columns=1))
    assert not served_by(make(ORDERS, [IndexKey("a"), IndexKey("b")]), index(["a"]))


def test_a_foreign_key_value_is_not_a_category_even_with_few_values() -> None:
    category = column("category_id", 20, mcv=tuple(str(n) for n in range(20)), mcf=(0.05,) * 20)
    columns = {**ORDER_STATS.columns, "category_id": category}
    query = "SELECT id FROM orders WHERE category_id = 7 ORDER BY created_at DESC LIMIT 20"
    catalog = SimpleCatalog({ORDERS: ("r", frozenset(columns))})

    def partials(identifiers: frozenset[str]) -> list[str]:
        stats = TableStats(ORDERS, "r", ROWS, 10_000, columns, identifiers=identifiers)
        generator = Generator({ORDERS: stats}, 3)
        generator.add_statement(1, analyze(query, catalog))
        return [c.label() for c in generator.found if c.predicate]

    assert "public.orders(created_at DESC) WHERE category_id = 7" in partials(frozenset())
    assert partials(frozenset({"category_id"})) == []


def test_gin_served_by_an_existing_gin_on_the_same_column_or_expression() -> None:
    def gin(column: str, opclass: str, attnum: int = 1) -> s.Index:
        return f.index(
            "g", table="orders", columns=[column], attnums=[attnum], method="gin",
            opclasses=[opclass],
        )  # fmt: skip

    fulltext = make(ORDERS, [IndexKey("search")], method="gin", search="fulltext")
    assert served_by(fulltext, gin("search", "tsvector_ops"))
    assert not served_by(fulltext, gin("data", "jsonb_ops"))
    trigram = make(ORDERS, [IndexKey("note", opclass="gin_trgm_ops")], method="gin")
    assert not served_by(trigram, gin("note", "gin_tsvector_ops"))
    assert served_by(trigram, gin("note", "gin_trgm_ops"))
    expression = make(
        ORDERS, [IndexKey("to_tsvector('english', note)", is_column=False)], method="gin"
    )
    assert served_by(expression, gin("to_tsvector('english'::regconfig, note)", "tsvector_ops", 0))


def test_order_by_limit_gets_its_sort_keys_under_every_fixed_literal_predicate() -> None:
    """Neither status = 'delivered' (60% of rows) nor deleted_at IS NULL (97%) is rare, yet
    under ORDER BY ... LIMIT a WHERE of both leaves the scan nothing to filter; the
    covering variant leaves the predicate's columns out of INCLUDE."""
    found = labels(
        candidates(
            "SELECT id, total FROM orders WHERE seller_id = 9 AND status = 'delivered'"
            " AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20"
        )
    )
    where = " WHERE deleted_at IS NULL AND status = 'delivered'"
    assert f"public.orders(seller_id, created_at DESC){where}" in found
    assert f"public.orders(seller_id, created_at DESC) INCLUDE (id){where}" not in found  # width
    assert "public.orders(seller_id, created_at DESC) INCLUDE (id)" not in found
    narrow = labels(
        candidates(
            "SELECT id FROM orders WHERE status = 'delivered' AND deleted_at IS NULL"
            " ORDER BY created_at DESC LIMIT 20",
            width=2,
        )
    )
    assert f"public.orders(created_at DESC){where}" in narrow
    assert f"public.orders(created_at DESC) INCLUDE (id){where}" in narrow


def test_no_ordered_partial_index_for_an_in_list_or_without_a_limit() -> None:
    tab = candidates(
        "SELECT id FROM orders WHERE buyer_id = 3 AND status IN ('delivered', 'paid', 'shipped')"
        " ORDER BY created_at DESC LIMIT 50"
    )
    assert not [c for c in tab if c.predicate]
    unlimited = candidates(
        "SELECT id FROM orders WHERE status = 'delivered' AND seller_id = 9 ORDER BY created_at"
    )
    assert not [c for c in unlimited if c.predicate]


def test_an_equality_index_is_offered_only_its_own_pages_order() -> None:
    from prodready.advisor.candidates import ordered

    table = TableName("public", "products")
    created = IndexKey("created_at", desc=True)
    pages = {
        (frozenset({"seller_id"}), (created,)),
        (frozenset({"category_id", "status"}), (IndexKey("price"),)),
    }
    seller = make(table, [IndexKey("seller_id")])
    assert [c.keys for c in ordered(seller, pages)] == [(IndexKey("seller_id"), created)]
    both = make(table, [IndexKey("status"), IndexKey("category_id")])
    assert [c.keys[-1] for c in ordered(both, pages)] == [IndexKey("price")]
    # an index that is not a page's equality prefix is left as it is
    assert ordered(make(table, [IndexKey("external_id")]), pages) == []
    assert ordered(make(table, [IndexKey("seller_id"), created]), pages) == []
    assert ordered(make(table, [IndexKey("seller_id")], include=("title",)), pages) == []
