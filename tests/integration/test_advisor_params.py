"""Parameter binding on the real server: values from pg_stats and logs, fixes, skips, demo."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from prodready.advisor.model import BoundQuery, WorkloadQuery
from prodready.advisor.params import bind
from prodready.advisor.workload import (
    from_pg_stat_statements,
    from_sql_file,
    statement_fingerprint,
)
from prodready.demo import (
    WORKLOAD,
    WorkloadResult,
    load_data,
    load_schema,
    reset_statement_stats,
    run_workload,
)
from prodready.demo import write_workload_sql as demo_sql
from prodready.pg.cluster import LocalCluster
from prodready.pg.connection import connect
from tests.conftest import TestDatabase, create_database, drop_database

ROWS = 20_000
SCHEMA = f"""
CREATE TYPE channel AS ENUM ('web', 'ios', 'android', 'partner');
CREATE TABLE shop_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    buyer_id bigint NOT NULL,
    status text NOT NULL,
    channel channel NOT NULL,
    total numeric(10, 2) NOT NULL,
    note text,
    created_at timestamptz NOT NULL
);
-- skewed: 80% delivered, buyer 7 places a twentieth of all orders, mostly from the web
INSERT INTO shop_orders (buyer_id, status, channel, total, created_at)
SELECT CASE WHEN i % 20 = 0 THEN 7 ELSE 100 + i % 3000 END,
       CASE WHEN i % 10 < 8 THEN 'delivered' WHEN i % 10 = 8 THEN 'shipped'
            WHEN i % 20 = 9 THEN 'pending' ELSE 'cancelled' END,
       (ARRAY['web', 'web', 'web', 'ios', 'ios', 'android', 'partner'])[1 + i % 7]::channel,
       (i % 500) + 0.99,
       now() - (i % 365) * interval '1 day' - (i % 24) * interval '1 hour'
FROM generate_series(1, {ROWS}) AS i;
ANALYZE shop_orders;
CREATE TABLE never_analyzed (id bigint PRIMARY KEY, name text NOT NULL, kind int NOT NULL);
CREATE SCHEMA "my schema";
CREATE TABLE "my schema"."Order Items" ("Item Id" int PRIMARY KEY, "Buyer Id" bigint);
INSERT INTO "my schema"."Order Items"
SELECT i, CASE WHEN i % 2 = 0 THEN 3 ELSE i % 3 END FROM generate_series(1, 400) i;
ANALYZE "my schema"."Order Items";
CREATE SCHEMA app;
CREATE TABLE app.tokens (id bigint PRIMARY KEY, token text NOT NULL);
"""


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


@pytest.fixture
def conn(shop: TestDatabase) -> Iterator[psycopg.Connection]:
    with connect(shop.dsn, read_only=True) as session:
        yield session


def workload(*texts: str, samples: tuple[tuple[str | None, ...], ...] = ()) -> list[WorkloadQuery]:
    return [
        WorkloadQuery(statement_fingerprint(t), t, 10, "test", param_samples=samples) for t in texts
    ]


def bind_one(conn: psycopg.Connection, text: str, **kw: Any) -> BoundQuery:
    """The binding that stands for most of the statement's calls."""
    bindings = bind_all(conn, text, **kw)
    return max(bindings, key=lambda b: b.share)


def bind_all(conn: psycopg.Connection, text: str, **kw: Any) -> list[BoundQuery]:
    bound, skipped = bind(workload(text, **kw), conn)
    assert skipped == [], skipped
    assert all(b.query.text == text for b in bound)
    assert abs(sum(b.share for b in bound) - 1.0) < 1e-9
    return bound


def skip_of(conn: psycopg.Connection, text: str) -> str:
    bound, skipped = bind(workload(text), conn)
    assert bound == []
    [result] = skipped
    assert result.query == text
    return result.reason


def stats(shop: TestDatabase, column: str) -> tuple[list[str], list[str]]:
    row = shop.query(
        "SELECT most_common_vals::text::text[], histogram_bounds::text::text[] FROM pg_stats"
        " WHERE tablename = 'shop_orders' AND attname = %s",
        (column,),
    )[0]
    return row[0] or [], row[1] or []


def estimated_rows(conn: psycopg.Connection, statement: str) -> float:
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {statement}").fetchone()[0]  # type: ignore[index]
    return float(plan[0]["Plan"]["Plan Rows"])


# -- values from pg_stats --------------------------------------------------------------------


def test_equality_binds_the_value_of_the_median_row(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    """80% of orders are delivered: that is the typical status. Buyer 7 places a twentieth
    of all orders, the other 3,000 buyers about six each: a typical buyer is one of those."""
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE status = $1 AND buyer_id = $2")
    assert result.method == "stats"
    assert stats(shop, "status")[0][0] == "delivered"
    assert stats(shop, "buyer_id")[0][0] == "7"
    typical = typical_buyer(shop)
    assert result.sql == (
        "SELECT id FROM shop_orders WHERE status = 'delivered'::text"
        f" AND buyer_id = '{typical}'::bigint"
    )
    assert estimated_rows(conn, f"SELECT id FROM shop_orders WHERE buyer_id = {typical}") < 20
    assert result.param_types == ("text", "bigint")
    assert result.note == "$1 eq public.shop_orders.status; $2 eq public.shop_orders.buyer_id"


def test_a_range_binds_a_selective_histogram_bound(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE created_at > $1")
    histogram = stats(shop, "created_at")[1]
    bound = histogram[round(0.9 * (len(histogram) - 1))]
    assert result.sql == (
        f"SELECT id FROM shop_orders WHERE created_at > '{bound}'::timestamp with time zone"
    )
    rows = estimated_rows(conn, result.sql)
    assert 0.05 * ROWS < rows < 0.15 * ROWS  # selective, not empty


def test_both_ends_of_a_range_make_a_window_not_an_empty_range(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE created_at >= $1 AND created_at < $2")
    histogram = stats(shop, "created_at")[1]
    low, high = (histogram[round(f * (len(histogram) - 1))] for f in (0.45, 0.55))
    assert result.sql == (
        f"SELECT id FROM shop_orders WHERE created_at >= '{low}'::timestamp with time zone"
        f" AND created_at < '{high}'::timestamp with time zone"
    )
    rows = estimated_rows(conn, result.sql)
    assert 0.05 * ROWS < rows < 0.15 * ROWS


def test_in_lists_bind_distinct_common_values_and_any_binds_an_array(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE status IN ($1, $2, $3)")
    first, second, third = stats(shop, "status")[0][:3]
    assert result.sql == (
        f"SELECT id FROM shop_orders WHERE status IN ('{first}'::text, '{second}'::text,"
        f" '{third}'::text)"
    )
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE channel = ANY($1::channel[])")
    assert (
        result.sql
        == """SELECT id FROM shop_orders WHERE channel = ANY('{"web","ios"}'::channel[])"""
    )
    assert result.param_types == ("public.channel[]",)  # qualified: no search_path needed


def typical_buyer(shop: TestDatabase) -> str:
    """The buyer an equality on buyer_id is bound to: the median of its histogram."""
    histogram = stats(shop, "buyer_id")[1]
    return histogram[len(histogram) // 2]


def test_limit_offset_and_function_arguments(shop: TestDatabase, conn: psycopg.Connection) -> None:
    text = (
        "SELECT date_trunc($1, created_at), round(total, $2) FROM shop_orders"
        " WHERE buyer_id = $3 ORDER BY created_at DESC LIMIT $4 OFFSET $5"
    )
    bindings = bind_all(conn, text)
    assert {b.method for b in bindings} == {"stats"}
    # buyer_id is skewed (buyer 7 places a twentieth of the orders): the page is planned for
    # the heaviest buyer, a typical common one and an ordinary one, each for the share of
    # calls its rows stand for; the heavy page is what a missing (buyer_id, created_at) costs
    heaviest, typical = stats(shop, "buyer_id")[0][0], typical_buyer(shop)
    sqls = {b.binding.split(" (")[0] if b.binding else None: b.sql for b in bindings}
    assert sqls[f"shop_orders.buyer_id = {heaviest}"] == (
        "SELECT date_trunc(''::text, created_at), round(total, '1'::integer) FROM shop_orders"
        f" WHERE buyer_id = '{heaviest}'::bigint ORDER BY created_at DESC"
        " LIMIT 50 OFFSET 0"
    )
    assert f"shop_orders.buyer_id = {typical}" in sqls
    heavy = next(b for b in bindings if b.binding and "heaviest" in b.binding)
    assert 0.04 < heavy.share < 0.07  # buyer 7's share of the rows
    assert bind_one(conn, text).sql.endswith(
        f"buyer_id = '{typical}'::bigint ORDER BY created_at DESC LIMIT 50 OFFSET 0"
    )
    unpaged = bind_one(conn, "SELECT total FROM shop_orders WHERE buyer_id = $1")
    assert unpaged.sql.endswith(f"buyer_id = '{typical}'::bigint")


def test_evenly_spread_or_logged_values_bind_once(conn: psycopg.Connection) -> None:
    """No skew (one row per id), or values seen in the log: one binding, all the calls."""
    [by_id] = bind_all(conn, "SELECT total FROM shop_orders WHERE id = $1")
    assert by_id.share == 1.0 and by_id.binding is None
    [logged] = bind_all(
        conn, "SELECT total FROM shop_orders WHERE buyer_id = $1", samples=(("7",),)
    )
    assert logged.method == "log" and logged.share == 1.0 and logged.binding is None


def test_update_set_and_insert_values(conn: psycopg.Connection) -> None:
    result = bind_one(conn, "UPDATE shop_orders SET status = $1, note = $2 WHERE id = $3")
    assert result.sql.startswith(
        "UPDATE shop_orders SET status = 'delivered'::text, note = ''::text WHERE id = '"
    )
    result = bind_one(conn, "INSERT INTO shop_orders OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3)")
    # no column list: the table's first columns, in order
    assert result.sql == (
        "INSERT INTO shop_orders OVERRIDING SYSTEM VALUE VALUES ("
        f"'{ROWS // 2}'::bigint, '7'::bigint, 'delivered'::text)"
    )


def test_interval_parameter_from_pg_stat_statements_is_fixed_and_realistic(
    conn: psycopg.Connection,
) -> None:
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE created_at >= now() - interval $1")
    assert result.method == "stats"
    assert "interval $1 -> $1::interval" in (result.note or "")
    assert result.sql.startswith("SELECT id FROM shop_orders WHERE created_at >= now() - '")
    assert result.sql.endswith(" days'::interval")
    rows = estimated_rows(conn, result.sql)
    assert 0.05 * ROWS < rows < 0.15 * ROWS  # the newest tenth, like `created_at > $1`


def test_pg_stat_statements_forms_of_analytics_queries_prepare(conn: psycopg.Connection) -> None:
    """`extract(year FROM d)` and `0.06 - 0.01` as pg_stat_statements writes them."""
    result = bind_one(
        conn,
        "SELECT extract($1 FROM created_at), sum(CASE WHEN status = $2 THEN $3 ELSE $4 END)"
        " FROM shop_orders WHERE total BETWEEN $5 - $6 AND $7 + $8 GROUP BY 1",
    )
    assert result.method == "stats"
    assert result.param_types == ("text",) + ("text",) + ("numeric",) * 6
    assert result.note is not None
    assert "extract($1 FROM -> extract(epoch FROM" in result.note
    assert "declared $3, $4, $5, $6, $7, $8 numeric" in result.note
    assert result.sql.startswith("SELECT extract(epoch FROM created_at), sum(CASE WHEN status =")


def test_function_variables_and_skipped_numbers(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    """Statements pg_stat_statements saw inside PL/pgSQL: variables by name, numbers skipped."""
    result = bind_one(
        conn, "SELECT total FROM shop_orders WHERE buyer_id = v_buyer AND status = $3"
    )
    assert result.method == "stats"
    assert result.sql == (
        f"SELECT total FROM shop_orders WHERE buyer_id = '{typical_buyer(shop)}'::bigint"
        " AND status = 'delivered'::text"
    )
    assert result.param_types == ("bigint", "text", "text")  # $2 is never used: any type
    reason = skip_of(conn, "SELECT total FROM shop_orders WHERE v_missing.x = $1")
    assert reason == 'cannot be prepared: missing FROM-clause entry for table "v_missing"'


def test_hostile_identifiers_resolve_through_quotes(conn: psycopg.Connection) -> None:
    result = bind_one(conn, 'SELECT * FROM "my schema"."Order Items" o WHERE o."Buyer Id" = $1')
    assert result.method == "stats"
    assert result.note == "$1 eq my schema.Order Items.Buyer Id"
    assert result.sql.endswith("""o."Buyer Id" = '3'::bigint""")


# -- values from logs ------------------------------------------------------------------------


def test_log_samples_win_over_statistics_and_nulls_are_never_bound(
    conn: psycopg.Connection,
) -> None:
    samples = (("'3001'", None), ("'3001'", None), ("'42'", "'pending'"))
    result = bind_one(
        conn, "SELECT id FROM shop_orders WHERE buyer_id = $1 AND status = $2", samples=samples
    )
    assert result.method == "log"
    assert result.sql == (
        "SELECT id FROM shop_orders WHERE buyer_id = '42'::bigint AND status = 'pending'::text"
    )


def test_a_null_only_sample_position_falls_back_to_statistics(conn: psycopg.Connection) -> None:
    result = bind_one(
        conn,
        "SELECT id FROM shop_orders WHERE buyer_id = $1 AND status = $2",
        samples=(("'42'", None),),
    )
    assert result.method == "log"
    assert result.sql.endswith("buyer_id = '42'::bigint AND status = 'delivered'::text")


# -- generic plans ---------------------------------------------------------------------------


def test_no_statistics_gives_a_generic_plan_with_the_inferred_types(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    text = "SELECT * FROM never_analyzed WHERE kind = $1 AND name LIKE $2 LIMIT $3"
    result = bind_one(conn, text)
    assert result.method == "generic"
    assert result.sql == text
    assert result.param_types == ("integer", "text", "bigint")
    assert (
        result.note
        == "generic plan: no statistics for public.never_analyzed.kind ($1); run ANALYZE"
    )
    # the what-if step plans it the way the note says: a generic plan, NULLs do not matter
    with psycopg.connect(shop.dsn, autocommit=True) as session:
        session.execute("SET plan_cache_mode = force_generic_plan")
        types = sql.SQL(", ").join(sql.SQL(t) for t in result.param_types)
        session.execute(sql.SQL("PREPARE p ({}) AS ").format(types) + sql.SQL(result.sql))  # type: ignore[arg-type]
        plan = session.execute("EXPLAIN EXECUTE p(NULL, NULL, NULL)").fetchall()
    assert "One-Time Filter: false" not in str(plan)


def test_comparison_with_an_expression_gives_a_generic_plan(conn: psycopg.Connection) -> None:
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE lower(status) = $1")
    assert (result.method, result.param_types) == ("generic", ("text",))
    assert "compared with an expression" in (result.note or "")


def test_values_the_planner_refuses_fall_back_to_a_generic_plan(conn: psycopg.Connection) -> None:
    # the text default '' is no date_trunc unit: planning folds now() and fails
    result = bind_one(conn, "SELECT id FROM shop_orders WHERE created_at > date_trunc($1, now())")
    assert result.method == "generic"
    assert result.note == (
        'generic plan: bound values did not plan (unit "" not recognized for type'
        " timestamp with time zone)"
    )


# -- what cannot be planned ------------------------------------------------------------------


def test_statements_that_cannot_be_planned_are_skipped_with_the_reason(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    assert skip_of(conn, "SELEC id FROM shop_orders").startswith(
        'does not parse: syntax error at or near "SELEC"'
    )
    assert skip_of(conn, "SELECT * FROM missing_table WHERE id = $1") == (
        'references table "missing_table", which does not exist (not found in the search_path)'
    )
    assert skip_of(conn, "SELECT * FROM app.missing WHERE id = 1") == (
        'references table "app.missing", which does not exist'
    )
    assert skip_of(conn, "CREATE INDEX ON shop_orders (status)") == (
        "not a query (CREATE INDEX): only DML is planned"
    )
    assert skip_of(conn, "SELECT no_such_column FROM shop_orders WHERE id = $1") == (
        'cannot be prepared: column "no_such_column" does not exist'
    )
    assert skip_of(conn, "SELECT * FROM shop_orders WHERE id = 1/0") == (
        "cannot be planned: division by zero"
    )


def test_temporary_tables_of_other_sessions_are_skipped(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    with psycopg.connect(shop.dsn, autocommit=True) as other:
        other.execute("CREATE TEMP TABLE cart (id int PRIMARY KEY)")
        assert skip_of(conn, "SELECT * FROM cart WHERE id = $1") == (
            'uses temporary table "cart", which exists only in its own session'
        )


def test_the_search_path_decides_where_unqualified_tables_live(
    shop: TestDatabase, conn: psycopg.Connection
) -> None:
    text = "SELECT token FROM tokens WHERE id = $1"
    assert "does not exist" in skip_of(conn, text)
    conn.execute("SET search_path = app, public")
    result = bind_one(conn, text)
    assert result.method == "generic"  # app.tokens is empty and never analyzed
    assert result.note == "generic plan: no statistics for app.tokens.id ($1); run ANALYZE"


def test_bind_keeps_order_leaves_nothing_prepared_and_mixes_outcomes(
    conn: psycopg.Connection,
) -> None:
    texts = [
        "SELECT count(*) FROM shop_orders",
        "SELEC 1",
        "SELECT id FROM shop_orders WHERE status = $1",
        "DROP TABLE shop_orders",
        "SELECT * FROM never_analyzed WHERE id = $1",
    ]
    bound, skipped = bind(workload(*texts), conn)
    methods = {b.query.text: b.method for b in bound}  # a skewed column: several bindings
    assert list(methods) == [texts[0], texts[2], texts[4]]
    assert list(methods.values()) == ["literal", "stats", "generic"]
    assert [s.query for s in skipped] == [texts[1], texts[3]]
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    assert bind([], conn) == ([], [])


def test_many_statements_bind_in_batches(conn: psycopg.Connection) -> None:
    texts = [
        f"SELECT id, {i} FROM shop_orders WHERE buyer_id = $1 AND total > $2" for i in range(120)
    ]
    texts[70] = "SELECT nope FROM shop_orders WHERE id = $1"  # a failure inside a batch
    bound, skipped = bind(workload(*texts), conn)
    assert len({b.query.text for b in bound}) == 119 and {b.method for b in bound} == {"stats"}
    assert [s.reason for s in skipped] == ['cannot be prepared: column "nope" does not exist']


# -- the demo marketplace --------------------------------------------------------------------

DEMO_CALLS = 400


@pytest.fixture(scope="module")
def demo_run(pg_cluster: LocalCluster) -> Iterator[tuple[TestDatabase, WorkloadResult]]:
    """The demo at 2% scale after a few hundred API calls, and what the run executed."""
    database = create_database(pg_cluster, "demo_bind")
    password = secrets.token_urlsafe(12)
    with psycopg.connect(database.dsn, autocommit=True) as session:
        load_schema(session)
        load_data(session, 0.02)
        session.execute(
            sql.SQL("ALTER ROLE authenticator PASSWORD {}").format(sql.Literal(password))
        )
        session.execute("ANALYZE")
        reset_statement_stats(session)
    run = run_workload(database.dsn, database.dsn_as("authenticator", password), calls=DEMO_CALLS)
    yield database, run
    drop_database(database)


@pytest.fixture(scope="module")
def demo_db(demo_run: tuple[TestDatabase, WorkloadResult]) -> TestDatabase:
    return demo_run[0]


def test_demo_workload_from_pg_stat_statements_binds_with_realistic_values(
    demo_db: TestDatabase,
) -> None:
    with connect(demo_db.dsn, read_only=True) as session:
        queries = from_pg_stat_statements(session)
        bound, skipped = bind(queries, session)
    methods = {b.method for b in bound}
    assert skipped == []
    assert "generic" not in methods and "$" not in " ".join(b.sql for b in bound)
    assert len({b.query.text for b in bound}) == len(queries)
    # statements run inside functions (toplevel = false) are not the app's own traffic
    assert not any(b.query.text.endswith("WHERE id = product_id") for b in bound)
    # where they are recorded anyway (no toplevel column), the function's argument
    # `product_id` becomes a parameter: the numbering skips $1, its mark
    pgss_form = "UPDATE products SET view_count = view_count + $2 WHERE id = product_id"
    nested_query = WorkloadQuery(fingerprint="n", text=pgss_form, calls=5, source="pgss")
    with connect(demo_db.dsn, read_only=True) as session:
        [nested], _ = bind([nested_query], session)
    assert nested.sql.startswith("UPDATE products SET view_count = view_count + ")
    assert nested.note is not None and "function variable product_id -> $1" in nested.note
    assert "$1 eq public.products.id" in nested.note
    orders = next(b for b in bound if "WHERE buyer_id = " in b.sql and "ANY(" in b.sql)
    assert "::public.order_status[])" in orders.sql and orders.sql.endswith("LIMIT 50")
    revenue = next(b for b in bound if "date_trunc" in b.sql)
    assert "created_at >= now() - '" in revenue.sql and "interval $3" in (revenue.note or "")


def test_demo_workload_sql_file_binds_as_literal_statements(
    demo_db: TestDatabase, tmp_path: Any
) -> None:
    with psycopg.connect(demo_db.dsn, autocommit=True) as session:
        path = demo_sql(session, tmp_path / "workload.sql", per_query=2)
    queries = from_sql_file(path)
    with connect(demo_db.dsn, read_only=True) as session:
        bound, skipped = bind(queries, session)
    assert skipped == []
    assert {b.method for b in bound} == {"literal"}
    assert {q.role for q in queries} == {"anon", "authenticated", None}
    # each API query's two parameter variants share a fingerprint: one statement per query
    assert len(queries) == len(WORKLOAD)
    assert sum(q.calls for q in queries) == sum(2 * max(1, round(q.weight / 2)) for q in WORKLOAD)


def test_demo_sql_file_and_pg_stat_statements_share_fingerprints(
    demo_run: tuple[TestDatabase, WorkloadResult], tmp_path: Any
) -> None:
    """A literal statement and its `$n` twin are one statement: the benchmark compares them."""
    database, run = demo_run
    with psycopg.connect(database.dsn, autocommit=True) as session:
        literal = from_sql_file(demo_sql(session, tmp_path / "w.sql"))
        normalised = from_pg_stat_statements(session)
    shared = {q.fingerprint for q in literal} & {q.fingerprint for q in normalised}
    # every API query the run executed, except record_product_view: `SELECT
    # increment_product_views($1)` names no table, so no index can help the call itself
    # (pg_stat_statements records the UPDATE inside it as a statement of its own)
    assert "record_product_view" in run.calls
    assert len(shared) == len(run.calls) - 1


def test_literal_forms_are_planned_with_their_own_values(conn: psycopg.Connection) -> None:
    heavy = "SELECT total FROM shop_orders WHERE buyer_id = 7"
    light = "SELECT total FROM shop_orders WHERE buyer_id = 1581"
    query = WorkloadQuery(
        statement_fingerprint(heavy), heavy, 100, "w.sql", variants=((heavy, 60), (light, 40))
    )
    bound, skipped = bind([query], conn)
    assert skipped == []
    assert [(b.sql, b.method, b.share, b.binding) for b in bound] == [
        (heavy, "literal", 0.6, "60% of calls"),
        (light, "literal", 0.4, "40% of calls"),
    ]
    broken = WorkloadQuery(
        query.fingerprint, heavy, 100, "w.sql", variants=((heavy, 60), (light + " AND nope", 40))
    )
    [alone], _ = bind([broken], conn)  # a form the planner refuses is dropped, not the rest
    assert (alone.sql, alone.share, alone.binding) == (heavy, 1.0, None)
