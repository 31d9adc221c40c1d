"""Parameter binding without a database: pg_stat_statements fixes, column inference, values."""

from __future__ import annotations

import pytest

from prodready.advisor.model import Skipped, WorkloadQuery
from prodready.advisor.params import (
    _analyse,
    _default,
    _from_stats,
    _sample,
    _Sql,
    _Stats,
    _substitute,
    _Type,
    _Use,
    fix_normalised,
)

BIGINT = _Type("bigint", "N", "int8", None, "pg_catalog.english")
TEXT = _Type("text", "S", "text", None, "pg_catalog.english")
TSTZ = _Type("timestamp with time zone", "D", "timestamptz", None, "pg_catalog.english")
INTERVAL = _Type("interval", "T", "interval", None, "pg_catalog.english")
STATUS_ARRAY = _Type("public.order_status[]", "A", "order_status", None, "pg_catalog.english")
STATUS = _Type("public.order_status", "E", "order_status", "pending", "pg_catalog.english")
REGCONFIG = _Type("regconfig", "N", "regconfig", None, "pg_catalog.simple")


def query(text: str) -> WorkloadQuery:
    return WorkloadQuery("f", text, 1, "test")


def uses(text: str) -> dict[int, list[tuple[str, str]]]:
    """Each parameter's uses as (kind, column as written)."""
    statement = _analyse(query(text))
    assert not isinstance(statement, Skipped), statement
    found: dict[int, list[tuple[str, str]]] = {}
    for use in statement.analysis.uses:
        column = use.column
        written = ""
        if column is not None:
            target = f"{column.table}." if column.table else ""
            written = target + ".".join([*column.qualifier, column.name or f"#{column.index}"])
        found.setdefault(use.param, []).append((use.kind, written))
    return found


def skip_reason(text: str) -> str:
    result = _analyse(query(text))
    assert isinstance(result, Skipped)
    return result.reason


# -- pg_stat_statements forms ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("SELECT c >= now() - interval $1", "SELECT c >= now() - $1::interval"),
        ("SELECT d = date $1 AND e < timestamp $2", "SELECT d = $1::date AND e < $2::timestamp"),
        ("SELECT timestamp with time zone $1", "SELECT $1::timestamp with time zone"),
        ("SELECT timestamptz   $1, jsonb $2", "SELECT $1::timestamptz, $2::jsonb"),
        ("SELECT $1::interval, CAST($2 AS date)", "SELECT $1::interval, CAST($2 AS date)"),
        ("SELECT 'interval $1' FROM t", "SELECT 'interval $1' FROM t"),
    ],
)
def test_fix_normalised_rewrites_typed_literal_parameters(text: str, fixed: str) -> None:
    assert fix_normalised(text)[0] == fixed


def test_fix_normalised_says_what_it_rewrote() -> None:
    _, fixes = fix_normalised("SELECT now() - INTERVAL $1, date $2")
    assert fixes == ["INTERVAL $1 -> $1::INTERVAL", "date $2 -> $2::date"]


def test_extract_field_parameters_become_epoch_and_are_declared_text() -> None:
    statement = _analyse(query("SELECT extract($1 FROM o_orderdate), $2 FROM orders"))
    assert not isinstance(statement, Skipped)
    assert statement.text == "SELECT extract(epoch FROM o_orderdate), $2 FROM orders"
    assert statement.fixes == ["extract($1 FROM -> extract(epoch FROM"]
    assert (statement.params, statement.declared) == ([2], {1: "text"})


def test_untyped_constants_in_arithmetic_case_and_sums_are_numeric_hints() -> None:
    statement = _analyse(
        query(
            "SELECT sum(CASE WHEN p LIKE $1 THEN x * ($2 - d) ELSE $3 END), sum($4), $5 - $6"
            " FROM t WHERE d BETWEEN $7 - $8 AND $9 + $10"
        )
    )
    assert not isinstance(statement, Skipped)
    assert statement.analysis.numeric == {2, 3, 4, 5, 6, 7, 8, 9, 10}


def test_analyse_applies_the_fix_before_analysis() -> None:
    statement = _analyse(query("SELECT * FROM t WHERE c >= now() - interval $1"))
    assert not isinstance(statement, Skipped)
    assert statement.text.endswith("now() - $1::interval")
    assert statement.params == [1]


# -- which column each parameter meets -------------------------------------------------------


def test_equality_both_ways_and_through_aliases() -> None:
    found = uses("SELECT * FROM orders o WHERE o.buyer_id = $1 AND $2 = status")
    assert found == {1: [("eq", "o.buyer_id")], 2: [("eq", "status")]}


def test_in_lists_any_and_between() -> None:
    found = uses(
        "SELECT * FROM orders WHERE status IN ($1, $2) AND seller_id = ANY($3::bigint[])"
        " AND created_at BETWEEN $4 AND $5"
    )
    assert found == {
        1: [("in", "status")],
        2: [("in", "status")],
        3: [("any", "seller_id")],
        4: [("between_lo", "created_at")],
        5: [("between_hi", "created_at")],
    }


def test_range_comparisons_flip_with_the_parameter_side() -> None:
    found = uses("SELECT * FROM t WHERE a > $1 AND $2 > b AND c <= $3 AND d LIKE $4")
    assert found == {
        1: [("gt", "a")],
        2: [("lt", "b")],
        3: [("lt", "c")],
        4: [("like", "d")],
    }


def test_ilike_distinct_from_and_casts_on_either_side() -> None:
    found = uses(
        "SELECT * FROM t WHERE name ILIKE $1 AND code IS NOT DISTINCT FROM $2"
        " AND kind::text = $3::text"
    )
    assert found == {1: [("like", "name")], 2: [("eq", "code")], 3: [("eq", "kind")]}


def test_limit_offset_and_free_parameters() -> None:
    found = uses(
        "SELECT date_trunc($1, created_at), round(avg(x), $2) FROM t"
        " GROUP BY 1 HAVING count(*) >= $3 LIMIT $4 OFFSET $5"
    )
    assert found == {
        1: [("free", "")],
        2: [("free", "")],
        3: [("free", "")],
        4: [("limit", "")],
        5: [("offset", "")],
    }


def test_comparison_with_an_expression_on_columns_needs_a_generic_plan() -> None:
    assert uses("SELECT * FROM users WHERE lower(email) = $1") == {1: [("expr", "")]}


def test_now_minus_a_parameter_is_an_age_of_the_column() -> None:
    statement = _analyse(query("SELECT * FROM t WHERE created_at < now() - interval $1"))
    assert not isinstance(statement, Skipped)
    [use] = statement.analysis.uses
    assert (use.kind, use.column.name if use.column else None) == ("age", "created_at")
    assert (use.sign, use.direction) == ("-", "lt")


def test_text_search_through_a_from_function_alias() -> None:
    found = uses(
        "SELECT id FROM products, websearch_to_tsquery($2, $1) AS q"
        " WHERE search @@ q AND status = $3"
    )
    assert ("tsquery", "search") in found[1]
    assert found[2] == [("free", "")]
    assert found[3] == [("eq", "status")]


def test_update_set_and_insert_values() -> None:
    assert uses("UPDATE orders SET status = $1 WHERE id = $2") == {
        1: [("assign", "orders.status")],
        2: [("eq", "id")],
    }
    assert uses("INSERT INTO public.messages (sender_id, body) VALUES ($1, $2), ($3, $4)") == {
        1: [("assign", "public.messages.sender_id")],
        2: [("assign", "public.messages.body")],
        3: [("assign", "public.messages.sender_id")],
        4: [("assign", "public.messages.body")],
    }
    # no column list: the table's n-th column, resolved from the catalog
    assert uses("INSERT INTO t VALUES ($1, now(), $2)") == {
        1: [("assign", "t.#0")],
        2: [("assign", "t.#2")],
    }


def test_upsert_assignments_and_returning() -> None:
    found = uses(
        "INSERT INTO counters (k, n) VALUES ($1, $2)"
        " ON CONFLICT (k) DO UPDATE SET n = $3 RETURNING n + $4"
    )
    assert found[3] == [("assign", "counters.n")]
    assert found[4] == [("free", "")]


def test_ctes_subqueries_and_tables_named() -> None:
    statement = _analyse(
        query(
            "WITH recent AS (SELECT * FROM events WHERE kind = $1)"
            " SELECT * FROM recent r JOIN app.accounts a ON a.id = r.account_id"
            " WHERE a.id IN (SELECT account_id FROM sessions WHERE token = $2)"
        )
    )
    assert not isinstance(statement, Skipped)
    names = {str(t) for t in statement.analysis.tables}
    assert names == {"events", "app.accounts", "sessions"}  # the CTE is not a table


def test_delete_using() -> None:
    found = uses("DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.email = $1")
    assert found == {1: [("eq", "u.email")]}


# -- statements that cannot be planned -------------------------------------------------------


def test_skip_reasons_for_statements_that_are_not_plannable() -> None:
    assert skip_reason("SELEC 1").startswith("does not parse: syntax error at or near")
    assert skip_reason("CREATE INDEX ON t (a)") == (
        "not a query (CREATE INDEX): only DML is planned"
    )
    assert skip_reason("VACUUM t") == "not a query (VACUUM): only DML is planned"
    assert skip_reason("SELECT * INTO copy FROM t").startswith("SELECT INTO creates a table")
    assert skip_reason("SELECT 1; SELECT 2") == "holds 2 statements; give them one by one"


def test_a_trailing_semicolon_is_fine() -> None:
    statement = _analyse(query("SELECT 1 FROM t;  "))
    assert not isinstance(statement, Skipped)
    assert statement.text == "SELECT 1 FROM t"


# -- values ----------------------------------------------------------------------------------

STATS = _Stats(
    mcv=("delivered", "shipped", "pending"),
    histogram=tuple(f"2024-01-{d:02d}" for d in range(1, 12)),
    elems=("blue", "chair", "table"),
    elem_freqs=(0.1, 0.4, 0.2),
    age_s=tuple(float(86400 * (11 - i)) for i in range(11)),
)


def pick(kind: str, ptype: _Type, position: int = 0, **kw: str) -> str | None:
    value = _from_stats(_Use(1, kind, position=position, **kw), STATS, ptype)
    return None if value is None else value.render(cast_follows=False)


def test_equality_takes_the_most_common_value() -> None:
    assert pick("eq", STATUS) == "'delivered'::public.order_status"


def test_in_list_positions_take_distinct_common_values() -> None:
    assert [pick("in", STATUS, i) for i in range(4)] == [
        "'delivered'::public.order_status",
        "'shipped'::public.order_status",
        "'pending'::public.order_status",
        "'2024-01-06'::public.order_status",  # then histogram bounds, from the middle out
    ]


def test_any_array_takes_the_two_most_common_values() -> None:
    assert pick("any", STATUS_ARRAY) == """'{"delivered","shipped"}'::public.order_status[]"""


def test_ranges_take_selective_histogram_bounds() -> None:
    assert pick("gt", TSTZ) == "'2024-01-10'::timestamp with time zone"
    assert pick("lt", TSTZ) == "'2024-01-02'::timestamp with time zone"
    assert pick("between_lo", TSTZ) == "'2024-01-05'::timestamp with time zone"
    assert pick("between_hi", TSTZ) == "'2024-01-07'::timestamp with time zone"


def test_like_takes_a_word_of_a_real_value() -> None:
    stats = _Stats(("Blue Oak Chair",), (), (), (), ())
    value = _from_stats(_Use(1, "like"), stats, TEXT)
    assert value == _Sql("'%Blue%'", "text")


def test_text_search_takes_the_most_frequent_lexeme() -> None:
    assert pick("tsquery", TEXT) == "'chair'::text"


def test_age_is_a_round_window_of_a_tenth_of_the_history() -> None:
    # bounds are 11..1 days old: `col > now() - $1` asks for about the last 1.1 days (a
    # day), `<` for rows older than about 9.9 days (a week): windows applications write
    assert pick("age", INTERVAL) == "'1 day'::interval"
    assert pick("age", INTERVAL, direction="lt") == "'7 days'::interval"
    assert pick("age", BIGINT) == "'1'::bigint"  # `current_date - $1` counts days
    assert pick("age", INTERVAL, sign="+") == "'-1 day'::interval"


def test_age_of_a_growing_table_is_30_days_not_its_newest_tenth_of_rows() -> None:
    """An app that grows: 720 days of orders, the newest tenth of them from the last 3
    days; its dashboards ask for the last 30 days, not the last 3."""
    ages = tuple(86400 * 720 * (1 - i / 100) ** 2.4 for i in range(101))
    stats = _Stats((), (), (), (), ages)
    assert ages[90] < 4 * 86400
    assert _from_stats(_Use(1, "age"), stats, INTERVAL) == _Sql("'30 days'", "interval")
    short = _Stats((), (), (), (), (1800.0, 60.0))  # half an hour of history
    assert _from_stats(_Use(1, "age"), short, INTERVAL) == _Sql("'180 seconds'", "interval")


def test_equality_takes_the_value_of_the_median_row() -> None:
    """Rows listed from the most common value down: the value where half of them are
    reached. A column with a few heavy values but mostly ordinary ones gives an ordinary
    one (from the histogram, which holds the values not among the most common)."""
    categories = _Stats(("a", "b", "c", "d"), (), (), (), (), (0.3, 0.15, 0.1, 0.05))
    assert categories.typical() == "c"  # 0.3 + 0.15 + 0.1 reaches half the rows
    nulls = _Stats(("a", "b"), (), (), (), (), (0.3, 0.1), null_frac=0.5)
    assert nulls.typical() == "a"  # half of the non-null rows
    sellers = _Stats(("1", "2"), ("10", "20", "30", "40", "50"), (), (), (), (0.02, 0.01))
    assert sellers.typical() == "30"
    unknown = _Stats(("x", "y"), (), (), (), ())
    assert unknown.typical() == "x"  # no frequencies: the most common
    assert _Stats((), (), (), (), ()).typical() is None
    value = _from_stats(_Use(1, "eq"), sellers, BIGINT)
    assert value == _Sql("'30'", "bigint")


def test_no_statistics_no_value() -> None:
    empty = _Stats((), (), (), (), ())
    assert _from_stats(_Use(1, "eq"), empty, BIGINT) is None
    assert _from_stats(_Use(1, "gt"), empty, BIGINT) is None


@pytest.mark.parametrize(
    ("ptype", "expected"),
    [
        (BIGINT, "'1'::bigint"),
        (TEXT, "''::text"),
        (TSTZ, "now()"),
        (INTERVAL, "'1 day'::interval"),
        (STATUS, "'pending'::public.order_status"),
        (STATUS_ARRAY, "'{}'::public.order_status[]"),
        (REGCONFIG, "'pg_catalog.simple'::regconfig"),
        (_Type("uuid", "U", "uuid", None, ""), "'00000000-0000-0000-0000-000000000000'::uuid"),
        (_Type("int4range", "R", "int4range", None, ""), "'empty'::int4range"),
    ],
)
def test_defaults_are_valid_values_of_the_type(ptype: _Type, expected: str) -> None:
    value = _default(ptype)
    assert value is not None and value.render(cast_follows=False) == expected


def test_types_without_a_safe_default() -> None:
    assert _default(_Type("point", "G", "point", None, "")) is None
    assert _default(_Type("regclass", "N", "regclass", None, "")) is None
    assert _default(_Type("public.money_pair", "C", "money_pair", None, "")) is None


def test_substitute_replaces_parameter_tokens_only() -> None:
    values = {1: _Sql("'x'", "text"), 2: _Sql("'{1}'", "bigint[]"), 3: _Sql("50")}
    text = "SELECT '$1', $1, $2::bigint[], $2[1] /* $3 */ FROM t LIMIT $3"
    assert _substitute(text, values) == (
        "SELECT '$1', 'x'::text, '{1}'::bigint[], ('{1}'::bigint[])[1] /* $3 */ FROM t LIMIT 50"
    )


def test_sample_prefers_the_most_common_tuple_without_nulls() -> None:
    samples = (("'5'", None), ("'5'", None), ("'5'", None), ("'7'", "'a'"), ("'8'", "'b'"))
    assert _sample(samples, 2) == ("'7'", "'a'")
    assert _sample((("'1'", None),), 2) == ("'1'", None)
    assert _sample((), 1) is None
    assert _sample((("'1'",),), 2) is None  # too short for this statement
