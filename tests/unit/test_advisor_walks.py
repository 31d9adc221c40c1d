"""Sampled ORDER BY ... LIMIT walks: what is read of a sample, which conditions are sampled."""

from __future__ import annotations

from prodready.advisor.analysis import TableName
from prodready.advisor.walks import SAFETY, OrderKey, Walk, _safe_sql, fraction_read, walk_order

PRODUCTS = TableName("public", "products")


def walk(filter_text: str, condition: str | None = None, alias: str = "products") -> Walk:
    order = (OrderKey("created_at", True, True),)
    return Walk(PRODUCTS, alias, condition, filter_text, order)


def test_fraction_read_stops_at_twice_the_matches_needed() -> None:
    hits = [False, True] * 50  # every other row matches, spread evenly
    assert fraction_read(hits, 1) == SAFETY * 2 / 100
    assert fraction_read(hits, 10) == 40 / 100
    assert fraction_read([False] * 90 + [True] * 10, 1) == 92 / 100  # matches come last
    assert fraction_read([False] * 99 + [True], 1) == 1.0  # too rare to tell: all of it
    assert fraction_read([], 1) is None


def test_walk_order_applies_the_scan_direction_and_default_nulls() -> None:
    assert walk_order([("created_at", True, None)], backward=False) == (
        OrderKey("created_at", True, True),
    )
    assert walk_order([("created_at", True, None), ("id", False, None)], backward=True) == (
        OrderKey("created_at", False, False),
        OrderKey("id", True, True),
    )
    assert walk_order([("lower(email)", False, None)], backward=False) is not None
    assert walk_order([("", False, None)], backward=False) is None  # an expression key


def test_plain_conditions_on_the_walked_table_are_sampled() -> None:
    assert _safe_sql("(status = 'active'::text)", walk("")) == "status = CAST('active' AS text)"
    text = "((p.status = ANY ('{a,b}'::text[])) AND (p.title ~~* '%lamp%'::text))"
    assert _safe_sql(text, walk("", alias="p")) == (
        "status = ANY(CAST('{a,b}' AS text[])) AND title ~~* CAST('%lamp%' AS text)"
    )
    assert _safe_sql("((deleted_at IS NULL) AND (NOT archived))", walk("")) is not None


def test_anything_that_could_run_code_or_read_elsewhere_is_not_sampled() -> None:
    for text in (
        "(owner_id = auth.uid())",  # a function
        "(seller_id = $1)",  # a parameter
        "(id = (SubPlan 1))",  # not even SQL
        "(o.buyer_id = u.id)",  # a column of the join's other side
        "(hashed SubPlan 1)",
        "(status = (SELECT max(status) FROM other))",  # a subquery
        "(price > 1); DROP TABLE products",  # a second statement
    ):
        assert _safe_sql(text, walk("", alias="o")) is None, text
