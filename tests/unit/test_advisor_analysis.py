"""Query analysis: which columns of which table a statement filters, joins, sorts and reads."""

from __future__ import annotations

import pytest

from prodready.advisor.analysis import (
    AnalysisError,
    Constant,
    ExprPredicate,
    QueryAnalysis,
    Scan,
    Search,
    SimpleCatalog,
    SortKey,
    TableName,
    analyze,
    filter_constants,
)

ORDERS = TableName("public", "orders")
USERS = TableName("public", "users")
ITEMS = TableName("public", "items")
EVENTS = TableName("audit", "events")

CATALOG = SimpleCatalog(
    {
        ORDERS: (
            "r",
            frozenset(
                [
                    "id",
                    "buyer_id",
                    "seller_id",
                    "status",
                    "total",
                    "created_at",
                    "deleted_at",
                    "data",
                    "search",
                    "name",
                ]
            ),
        ),
        USERS: ("r", frozenset(["id", "email", "verified", "deleted_at", "created_at"])),
        ITEMS: ("r", frozenset(["id", "order_id", "product_id", "quantity"])),
        EVENTS: ("r", frozenset(["id", "kind", "at"])),
        TableName("public", "order_totals"): ("v", frozenset()),
    }
)


def scan(sql_text: str, table: TableName = ORDERS, **kw: object) -> Scan:
    """The only scan of `table` in the statement."""
    found = analyze(sql_text, CATALOG, **kw).scans_of(table)  # type: ignore[arg-type]
    assert len(found) == 1, found
    return found[0]


def test_equality_in_and_order_by_desc_with_limit() -> None:
    s = scan(
        "SELECT id FROM orders WHERE buyer_id = $1 AND status IN ('pending', 'paid')"
        " ORDER BY created_at DESC LIMIT 50"
    )
    assert s.eq == ["buyer_id"]
    assert s.in_list == ["status"]
    assert s.sort == [SortKey("created_at", "created_at", desc=True)]
    assert s.limited
    assert s.used == {"id", "buyer_id", "status", "created_at"}
    assert s.constants == [
        Constant("status", "status IN ('pending', 'paid')", "in", ("pending", "paid"))
    ]


def test_aliases_resolve_to_tables_and_join_columns() -> None:
    analysis = analyze(
        "SELECT o.id, u.email FROM orders o JOIN users AS u ON u.id = o.buyer_id"
        " WHERE u.email = 'a@b.c'",
        CATALOG,
    )
    orders, users = analysis.scans_of(ORDERS)[0], analysis.scans_of(USERS)[0]
    assert (orders.alias, users.alias) == ("o", "u")
    assert orders.joins == ["buyer_id"] and users.joins == ["id"]
    assert users.eq == ["email"]
    assert orders.used == {"id", "buyer_id"}


def test_unqualified_columns_resolve_through_the_catalog() -> None:
    analysis = analyze(
        "SELECT email FROM orders, users WHERE buyer_id = users.id AND quantity > 1", CATALOG
    )
    assert analysis.scans_of(ORDERS)[0].joins == ["buyer_id"]
    assert analysis.scans_of(USERS)[0].used == {"email", "id"}
    assert analysis.tables == {ORDERS, USERS}


def test_schema_qualified_and_search_path() -> None:
    assert scan("SELECT id FROM audit.events WHERE kind = 'x'", EVENTS).eq == ["kind"]
    with_path = SimpleCatalog(CATALOG.relations, ("audit", "public"))
    found = analyze("SELECT id FROM events WHERE at > now()", with_path)
    assert found.scans[0].table == EVENTS and found.scans[0].range == ["at"]


def test_between_and_ranges_flip_constants_on_the_left() -> None:
    s = scan("SELECT 1 FROM orders WHERE total BETWEEN 10 AND 20 AND 100 > id")
    assert s.range == ["total", "id"]
    assert s.eq == []


def test_is_null_and_booleans_are_constants_for_partial_indexes() -> None:
    s = scan("SELECT id FROM users WHERE deleted_at IS NULL AND NOT verified", USERS)
    assert s.null == ["deleted_at"]
    assert s.eq == ["verified"]
    assert s.constants == [
        Constant("deleted_at", "deleted_at IS NULL", "null"),
        Constant("verified", "NOT verified", "bool", ("f",)),
    ]


def test_is_not_null_and_bare_boolean() -> None:
    s = scan("SELECT id FROM users WHERE verified AND created_at IS NOT NULL", USERS)
    assert Constant("verified", "verified", "bool", ("t",)) in s.constants
    assert Constant("created_at", "created_at IS NOT NULL", "notnull") in s.constants


def test_predicates_under_or_are_not_partial_index_material() -> None:
    s = scan("SELECT id FROM orders WHERE status = 'a' OR buyer_id = 3")
    assert s.eq == ["status", "buyer_id"]
    assert s.constants == []


def test_parameters_are_not_literals() -> None:
    s = scan("SELECT id FROM orders WHERE status = $1 AND buyer_id = 7")
    assert s.eq == ["status", "buyer_id"]
    assert [c.column for c in s.constants] == ["buyer_id"]
    # bound from statistics: literals stand for parameters and are not trusted
    assert scan("SELECT id FROM orders WHERE status = 'x'", trust_literals=False).constants == []


def test_any_array_is_an_in_list() -> None:
    s = scan("SELECT id FROM orders WHERE status = ANY($2::text[]) AND buyer_id = $1")
    assert s.in_list == ["status"] and s.eq == ["buyer_id"]


def test_expressions_on_one_table() -> None:
    s = scan("SELECT id FROM users WHERE lower(email) = lower($1)", USERS)
    assert s.expressions == [ExprPredicate("lower(email)", frozenset({"email"}), "eq")]
    j = scan("SELECT id FROM orders o WHERE (o.data ->> 'kind') = 'gift'")
    assert j.expressions == [ExprPredicate("data ->> 'kind'", frozenset({"data"}), "eq")]


def test_like_prefix_is_a_range_and_leading_wildcard_a_trigram_search() -> None:
    assert scan("SELECT id FROM orders WHERE name LIKE 'abc%'").range == ["name"]
    s = scan("SELECT id FROM orders WHERE name ILIKE '%abc%' OR name LIKE $1")
    assert s.searches == [
        Search("trigram", "name", "name", "~~*"),
        Search("trigram", "name", "name", "~~"),
    ]


def test_full_text_search_on_a_column_and_an_expression() -> None:
    s = scan(
        "SELECT id FROM orders, websearch_to_tsquery('english', $1) q WHERE search @@ q"
        " AND to_tsvector('english', name) @@ to_tsquery('x')"
    )
    assert s.searches == [
        Search("fulltext", "search", "search", "@@"),
        Search("fulltext", "to_tsvector('english', name)", None, "@@"),
    ]


def test_jsonb_containment() -> None:
    s = scan("SELECT id FROM orders WHERE data @> '{\"gift\": true}'")
    assert s.searches == [Search("jsonb", "data", "data", "@>")]


def test_cte_columns_map_to_the_base_table() -> None:
    s = scan(
        "WITH recent AS (SELECT id, buyer_id FROM orders WHERE created_at > now() - interval"
        " '1 day') SELECT r.id FROM recent r WHERE r.buyer_id = 5"
    )
    assert s.range == ["created_at"]
    assert s.eq == ["buyer_id"]
    # reached through the CTE: not a partial-index literal on the table itself
    assert s.constants == []


def test_subquery_in_from_and_order_by_position() -> None:
    s = scan(
        "SELECT t.b FROM (SELECT buyer_id AS b, count(*) FROM orders GROUP BY buyer_id) t"
        " WHERE t.b < 10 ORDER BY 1"
    )
    assert s.group == ["buyer_id"]
    assert s.range == ["buyer_id"]
    assert s.sort == []  # sorted on the derived table's output, not the scan


def test_correlated_exists_is_a_join() -> None:
    analysis = analyze(
        "SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM items i WHERE i.order_id = o.id"
        " AND i.quantity > 2)",
        CATALOG,
    )
    items = analysis.scans_of(ITEMS)[0]
    assert items.joins == ["order_id"] and items.range == ["quantity"]
    assert analysis.scans_of(ORDERS)[0].joins == ["id"]


def test_in_subquery_is_a_semi_join() -> None:
    analysis = analyze(
        "SELECT id FROM orders WHERE id IN (SELECT order_id FROM items WHERE product_id = 3)",
        CATALOG,
    )
    assert analysis.scans_of(ORDERS)[0].joins == ["id"]
    assert analysis.scans_of(ITEMS)[0].joins == ["order_id"]
    assert analysis.scans_of(ITEMS)[0].eq == ["product_id"]


def test_join_using() -> None:
    catalog = SimpleCatalog(
        {
            TableName("public", "a"): ("r", frozenset({"k", "x"})),
            TableName("public", "b"): ("r", frozenset({"k", "y"})),
        }
    )
    analysis = analyze("SELECT x, y FROM a JOIN b USING (k)", catalog)
    assert [s.joins for s in analysis.scans] == [["k"], ["k"]]


def test_order_by_alias_and_nulls_last() -> None:
    s = scan("SELECT created_at AS c FROM orders WHERE buyer_id = 1 ORDER BY c DESC NULLS LAST")
    assert s.sort == [SortKey("created_at", "created_at", desc=True, nulls_first=False)]
    assert not s.limited


def test_order_by_across_tables_or_aggregates_is_not_an_index_order() -> None:
    analysis = analyze(
        "SELECT o.id FROM orders o JOIN users u ON u.id = o.buyer_id ORDER BY u.email, o.id",
        CATALOG,
    )
    assert all(s.sort == [] for s in analysis.scans)
    assert scan("SELECT status FROM orders GROUP BY status ORDER BY count(*) DESC").sort == []


def test_order_by_expression() -> None:
    s = scan("SELECT id FROM users ORDER BY lower(email) LIMIT 5", USERS)
    assert s.sort == [SortKey("lower(email)", None)]


def test_select_star_marks_the_scan() -> None:
    assert scan("SELECT * FROM orders WHERE id = 1").star
    assert scan("SELECT o.* FROM orders o WHERE id = 1").star
    assert not scan("SELECT id FROM orders WHERE id = 1").star


def test_self_join_keeps_two_scans() -> None:
    analysis = analyze(
        "SELECT a.id FROM orders a JOIN orders b ON b.buyer_id = a.seller_id WHERE a.id = 1",
        CATALOG,
    )
    a, b = analysis.scans_of(ORDERS)
    assert (a.alias, a.joins, a.eq) == ("a", ["seller_id"], ["id"])
    assert (b.alias, b.joins) == ("b", ["buyer_id"])


def test_update_and_delete() -> None:
    update = analyze(
        "UPDATE orders SET status = 'paid' WHERE id = $1 AND status = 'pending'", CATALOG
    )
    assert (update.kind, update.written, update.set_columns) == ("update", ORDERS, {"status"})
    assert update.scans[0].eq == ["id", "status"]
    delete = analyze(
        "DELETE FROM items i USING orders o WHERE i.order_id = o.id AND o.status = 'cancelled'",
        CATALOG,
    )
    assert (delete.kind, delete.written) == ("delete", ITEMS)
    assert delete.scans_of(ITEMS)[0].joins == ["order_id"]


def test_insert_values_and_insert_select() -> None:
    plain = analyze("INSERT INTO items (order_id, product_id) VALUES (1, 2)", CATALOG)
    assert (plain.kind, plain.written, plain.scans) == ("insert", ITEMS, [])
    select = analyze(
        "INSERT INTO items (order_id, product_id) SELECT id, 1 FROM orders WHERE buyer_id = 3",
        CATALOG,
    )
    assert select.scans_of(ORDERS)[0].eq == ["buyer_id"]


def test_union_branches_are_both_analysed() -> None:
    analysis = analyze(
        "SELECT id FROM orders WHERE buyer_id = 1 UNION ALL SELECT id FROM users WHERE email = 'x'",
        CATALOG,
    )
    assert analysis.scans_of(ORDERS)[0].eq == ["buyer_id"]
    assert analysis.scans_of(USERS)[0].eq == ["email"]


def test_views_and_unknown_tables_make_the_statement_opaque() -> None:
    view = analyze("SELECT * FROM order_totals WHERE id = 1", CATALOG)
    missing = analyze("SELECT * FROM nope WHERE id = 1", CATALOG)
    assert view.opaque and missing.opaque
    assert view.scans == [] and missing.problems == ["unknown relation nope"]


def test_lateral_subquery_sees_the_outer_table() -> None:
    analysis = analyze(
        "SELECT u.id, x.id FROM users u, LATERAL (SELECT id FROM orders o WHERE o.buyer_id ="
        " u.id ORDER BY o.created_at DESC LIMIT 3) x",
        CATALOG,
    )
    orders = analysis.scans_of(ORDERS)[0]
    assert orders.joins == ["buyer_id"]
    assert orders.sort == [SortKey("created_at", "created_at", desc=True)] and orders.limited


def test_same_table_comparison_is_not_a_seek() -> None:
    s = scan("SELECT id FROM orders WHERE created_at < deleted_at")
    assert (s.eq, s.range, s.joins) == ([], [], [])
    assert s.used == {"id", "created_at", "deleted_at"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT FROM WHERE", "does not parse"),
        ("CREATE TABLE t (id int)", "not a query"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("EXPLAIN SELECT 1", "already an EXPLAIN"),
    ],
)
def test_what_cannot_be_analysed(text: str, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        analyze(text, CATALOG)


def test_tables_include_the_written_one() -> None:
    analysis: QueryAnalysis = analyze("INSERT INTO items (order_id) VALUES (1)", CATALOG)
    assert analysis.tables == {ITEMS}


def test_expressions_with_parameters_or_aggregates_are_not_index_expressions() -> None:
    s = scan(
        "SELECT date_trunc($2, created_at) AS day, sum(total) AS revenue FROM orders"
        " WHERE buyer_id = $1 AND date_trunc($3, created_at) = now() GROUP BY 1"
        " ORDER BY revenue DESC LIMIT 5"
    )
    assert s.expressions == [] and s.sort == [] and s.eq == ["buyer_id"]


def test_plan_filters_as_literal_predicates() -> None:
    """EXPLAIN's Filter text, with the duplicates row-level security adds, as Constants."""
    found = filter_constants(
        "((deleted_at IS NULL) AND (deleted_at IS NULL) AND (p.status = 'active'::text))"
    )
    assert found is not None
    assert [(c.column, c.kind, c.values) for c in found] == [
        ("deleted_at", "null", ()),
        ("status", "eq", ("active",)),
    ]
    [tab] = filter_constants("(status = ANY ('{paid,\"on hold\"}'::order_status[]))") or []
    assert (tab.column, tab.kind, tab.values) == ("status", "in", ("paid", "on hold"))
    [flag] = filter_constants("(NOT archived)") or []
    assert (flag.column, flag.kind, flag.values) == ("archived", "bool", ("f",))
    [cast] = filter_constants("((code)::text = 'x'::text)") or []
    assert (cast.column, cast.values) == ("code", ("x",))


@pytest.mark.parametrize(
    "text",
    [
        "(name ~~* '%oak%'::text)",  # a pattern: its share is unknown
        "((buyer_id = 7) OR (seller_id = 7))",
        "(buyer_id = (NULLIF(current_setting('request.jwt.claim.sub'::text, true), ''))::uuid)",
        "(hashed SubPlan 2)",
        "(status = ANY ('{a,NULL}'::text[]))",
        "((status = 'a'::text) AND (total > 5))",
    ],
)
def test_plan_filters_that_are_more_than_literal_predicates(text: str) -> None:
    assert filter_constants(text) is None
