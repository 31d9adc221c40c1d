"""The demo marketplace on the real server: data at scale, workload, RLS, and what an audit sees.

The module loads a small scale (2% of the demo) into its own database. Roles are
cluster-wide: the schema creates them idempotently, nothing here drops them, and every
load in this module sets the same authenticator password.
"""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pglast import split
from psycopg import sql
from rich.console import Console

from prodready.db.snapshot import Index, Snapshot
from prodready.demo import (
    WORKLOAD,
    Samples,
    Scale,
    WorkloadResult,
    load_data,
    load_schema,
    reset_statement_stats,
    run_demo,
    run_query,
    run_workload,
    write_workload_sql,
)
from prodready.demo.workload import ANON, AUTHENTICATED
from prodready.pg.cluster import LocalCluster
from prodready.registry import run_checks
from tests.conftest import TestDatabase, create_database, drop_database

SCALE = 0.02
CALLS = 400
API_PASSWORD = secrets.token_urlsafe(12)
TABLES = (
    "users", "sellers", "categories", "products", "orders", "order_items", "reviews",
    "favorites", "messages", "audit_log", "coupons",
)  # fmt: skip


@dataclass
class Demo:
    db: TestDatabase
    scale: Scale
    loaded: dict[str, int]  # rows per table after the load, before the workload wrote any
    workload: WorkloadResult
    snapshot: Snapshot

    @property
    def api_dsn(self) -> str:
        return self.db.dsn_as("authenticator", API_PASSWORD)


def install(database: TestDatabase, scale: Scale) -> None:
    """Schema, data, and the authenticator password."""
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        load_schema(conn)
        load_data(conn, scale)
        conn.execute(
            sql.SQL("ALTER ROLE authenticator PASSWORD {}").format(sql.Literal(API_PASSWORD))
        )


def row_counts(database: TestDatabase) -> dict[str, int]:
    """Exact counts by sequential scans: an index-only count(*) would "use" an unused index."""
    counts = {}
    with psycopg.connect(database.dsn, autocommit=True) as conn:
        conn.execute("SET enable_indexonlyscan = off")
        conn.execute("SET enable_bitmapscan = off")
        for table in TABLES:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
            row = conn.execute(query).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


@pytest.fixture(scope="module")
def demo(db: TestDatabase) -> Iterator[Demo]:
    scale = Scale.of(SCALE)
    install(db, scale)
    loaded = row_counts(db)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        reset_statement_stats(conn)
    result = run_workload(db.dsn, db.dsn_as("authenticator", API_PASSWORD), calls=CALLS)
    yield Demo(db, scale, loaded, result, db.snapshot())


@pytest.fixture(scope="module")
def twin(demo: Demo, pg_cluster: LocalCluster) -> Iterator[TestDatabase]:
    """A second database loaded the same way (and so also proves roles may already exist)."""
    database = create_database(pg_cluster, "demo_twin")
    install(database, demo.scale)
    yield database
    drop_database(database)


def as_user(demo: Demo, uid: Any, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one query the way the API does: authenticator, role authenticated, JWT sub."""
    with psycopg.connect(demo.api_dsn) as conn, conn.transaction():
        conn.execute(
            "SELECT set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claim.sub', %s, true)",
            (str(uid),),
        )
        return conn.execute(query, params).fetchall()


def count(demo: Demo, query: str, params: Any = None) -> int:
    return int(demo.db.query(query, params)[0][0])


# -- data -------------------------------------------------------------------------------------


def test_row_counts_follow_the_scale(demo: Demo) -> None:
    expected = {"audit_log" if k == "audit" else k: v for k, v in asdict(demo.scale).items()}
    expected |= {"categories": 50, "coupons": 5}
    loaded = dict(demo.loaded)
    items = loaded.pop("order_items")
    assert loaded == expected
    assert 2.0 * demo.scale.orders < items < 2.7 * demo.scale.orders
    wrong_totals = (
        "SELECT count(*) FROM public.orders o JOIN (SELECT order_id, sum(quantity * unit_price)"
        " AS subtotal FROM public.order_items GROUP BY order_id) i ON i.order_id = o.id"
        " WHERE o.total_amount <> o.shipping_amount + i.subtotal"
    )
    assert count(demo, wrong_totals) == 0


def test_the_data_is_skewed_like_a_real_shop(demo: Demo) -> None:
    per_buyer = demo.db.query(
        "SELECT count(*) FROM public.orders GROUP BY buyer_id ORDER BY 1 DESC"
    )
    mean = demo.scale.orders / len(per_buyer)
    assert per_buyer[0][0] > 10 * mean  # a few heavy buyers
    status = dict(demo.db.query("SELECT status::text, count(*) FROM public.orders GROUP BY 1"))
    assert status["delivered"] > 0.7 * demo.scale.orders
    assert 0 < status["pending"] < 0.1 * demo.scale.orders
    top_ten = demo.db.query(
        "SELECT count(*) FROM public.order_items GROUP BY product_id ORDER BY 1 DESC LIMIT 10"
    )
    # ten of 800 products carry over a tenth of the sales: power-law popularity
    assert sum(n for (n,) in top_ten) > 0.1 * demo.loaded["order_items"]


def test_loading_is_deterministic(demo: Demo, twin: TestDatabase) -> None:
    # columns the workload never writes
    digests = [
        "SELECT md5(string_agg(concat_ws(':', id, buyer_id, seller_id, total_amount,"
        " coupon_code), ',' ORDER BY id)) FROM public.orders",
        "SELECT md5(string_agg(concat_ws(':', user_id, product_id, rating), ',' ORDER BY id))"
        " FROM public.reviews",
        "SELECT md5(string_agg(concat_ws(':', order_id, product_id, quantity), ',' ORDER BY id))"
        " FROM public.order_items",
    ]
    for query in digests:
        assert demo.db.query(query) == twin.query(query)


def test_samples_are_never_empty_even_at_tiny_scale(demo: Demo) -> None:
    with psycopg.connect(demo.db.dsn, autocommit=True) as conn:
        samples = Samples.load(conn)
    for name, pool in asdict(samples).items():
        assert pool, name


# -- workload ---------------------------------------------------------------------------------


def test_every_api_query_runs_under_its_role(twin: TestDatabase) -> None:
    rng = random.Random(1)
    with (
        psycopg.connect(twin.dsn, autocommit=True) as service,
        psycopg.connect(twin.dsn_as("authenticator", API_PASSWORD), autocommit=True) as api,
    ):
        samples = Samples.load(service)
        touched = {q.name: run_query(service, api, q, q.params(rng, samples)) for q in WORKLOAD}
    # rows a call must return or touch, whatever the parameters drawn
    assert touched["category_tree"] == 50
    assert touched["my_profile"] == 1
    assert touched["send_message"] == 1
    assert touched["advance_order_status"] == 1  # the seller's UPDATE policy lets it through


def test_the_workload_reaches_pg_stat_statements_under_the_api_roles(demo: Demo) -> None:
    assert demo.workload.total_calls == CALLS
    names = {q.name for q in WORKLOAD}
    assert set(demo.workload.calls) <= names
    assert len(demo.workload.calls) >= len(names) - 2  # only the rarest may be missing
    assert demo.snapshot.statements is not None
    recorded = [(s.user, s.query or "", s.calls) for s in demo.snapshot.statements]
    role_of = {ANON: "anon", AUTHENTICATED: "authenticated"}
    for query in WORKLOAD:
        head = _text_before_first_constant(query.sql)
        user = role_of.get(query.role, "postgres")
        calls = sum(c for u, text, c in recorded if u == user and text.startswith(head))
        assert calls == demo.workload.calls[query.name], query.name
    # the load generator's own sampling is marked and left out
    assert not any("TABLESAMPLE" in text for _, text, _ in recorded)


def test_the_workload_leaves_realistic_table_statistics(demo: Demo) -> None:
    orders = demo.snapshot.table("public", "orders")
    reviews = demo.snapshot.table("public", "reviews")
    assert orders is not None and reviews is not None
    # both filter on unindexed foreign keys: every call is a sequential scan
    assert (reviews.seq_scan or 0) >= demo.workload.calls["product_reviews"]
    assert (orders.seq_scan or 0) >= demo.workload.calls["buyer_orders"]
    assert _index(demo.snapshot, "orders_coupon_code_idx").idx_scan == 0
    assert (_index(demo.snapshot, "products_pkey").idx_scan or 0) > 0


def test_workload_sql_file_has_weighted_runnable_statements(demo: Demo, tmp_path: Path) -> None:
    with psycopg.connect(demo.db.dsn, autocommit=True) as conn:
        path = write_workload_sql(conn, tmp_path / "workload.sql", per_query=2)
    text = path.read_text()
    marker = "-- weight:"
    weights = [int(line[len(marker) :]) for line in text.splitlines() if line.startswith(marker)]
    assert len(weights) == 2 * len(WORKLOAD)
    assert sum(weights) == pytest.approx(sum(q.weight for q in WORKLOAD), abs=len(WORKLOAD))
    assert "%(" not in text  # every parameter became a literal
    statements = list(split(text))
    assert len(statements) == 2 * len(WORKLOAD)
    with psycopg.connect(demo.db.dsn) as conn:  # one transaction, rolled back
        for statement in statements:
            conn.execute(statement)
        conn.rollback()


# -- RLS --------------------------------------------------------------------------------------


def test_rls_lets_a_buyer_see_only_their_own_orders(demo: Demo) -> None:
    buyer_a, buyer_b = _two_buyers_who_are_not_sellers(demo)
    own = count(demo, "SELECT count(*) FROM public.orders WHERE buyer_id = %s", (buyer_a,))
    assert own > 0
    seen = as_user(demo, buyer_a, "SELECT buyer_id FROM public.orders")
    assert len(seen) == own and {row[0] for row in seen} == {buyer_a}
    others = "SELECT id FROM public.orders WHERE buyer_id = %s"
    assert as_user(demo, buyer_a, others, (buyer_b,)) == []
    order_of_b = demo.db.query(
        "SELECT id FROM public.orders WHERE buyer_id = %s ORDER BY id LIMIT 1", (buyer_b,)
    )[0][0]
    items = "SELECT count(*) FROM public.order_items WHERE order_id = %s"
    assert as_user(demo, buyer_a, items, (order_of_b,))[0][0] == 0
    assert as_user(demo, buyer_b, items, (order_of_b,))[0][0] > 0


def test_rls_lets_a_seller_see_the_orders_of_their_shop(demo: Demo) -> None:
    seller_id, user_id = demo.db.query("SELECT id, user_id FROM public.sellers ORDER BY id")[0]
    shop = count(demo, "SELECT count(*) FROM public.orders WHERE seller_id = %s", (seller_id,))
    bought = count(demo, "SELECT count(*) FROM public.orders WHERE buyer_id = %s", (user_id,))
    assert shop > 0
    assert as_user(demo, user_id, "SELECT count(*) FROM public.orders")[0][0] == shop + bought


def test_the_forgotten_rls_on_messages_really_leaks(demo: Demo) -> None:
    buyer_a, _ = _two_buyers_who_are_not_sellers(demo)
    everyone = count(demo, "SELECT count(*) FROM public.messages")
    assert as_user(demo, buyer_a, "SELECT count(*) FROM public.messages")[0][0] == everyone


def test_anon_cannot_read_orders_but_can_read_password_hashes(demo: Demo) -> None:
    with psycopg.connect(demo.api_dsn) as conn:
        conn.execute("SET ROLE anon")
        hashes = conn.execute(
            "SELECT count(*) FROM public.users WHERE password_hash LIKE '$2b$%%'"
        ).fetchone()
        assert hashes == (demo.scale.users,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM public.orders")


# -- what an audit sees -----------------------------------------------------------------------


UNINDEXED_FOREIGN_KEYS = [
    ("orders", ["buyer_id"]),
    ("order_items", ["order_id"]),
    ("order_items", ["product_id"]),
    ("reviews", ["product_id"]),
    ("favorites", ["product_id"]),
    ("messages", ["recipient_id"]),
    ("messages", ["product_id"]),
]


@pytest.mark.parametrize(("table", "columns"), UNINDEXED_FOREIGN_KEYS)
def test_snapshot_has_foreign_keys_without_an_index(
    demo: Demo, table: str, columns: list[str]
) -> None:
    snap = demo.snapshot
    constraints = snap.constraints_by_table[("public", table)]
    assert [c.columns for c in constraints if c.type == "f" and c.columns == columns] == [columns]
    indexes = snap.indexes_by_table[("public", table)]
    assert not any(i.key_columns[: len(columns)] == columns for i in indexes)


def test_snapshot_sees_the_deliberate_index_mistakes(demo: Demo) -> None:
    snap = demo.snapshot
    first, copy = _index(snap, "orders_seller_id_idx"), _index(snap, "idx_orders_seller_id")
    assert first.key_columns == copy.key_columns == ["seller_id"]
    short = _index(snap, "products_seller_id_idx")
    wide = _index(snap, "products_seller_id_status_idx")
    assert wide.key_columns[:1] == short.key_columns == ["seller_id"]
    audit_log = snap.table("public", "audit_log")
    assert audit_log is not None and not audit_log.has_primary_key
    seq = next(s for s in snap.sequences if s.name == "audit_log_id_seq")
    assert seq.last_value is not None and 0.79 < seq.last_value / 2_147_483_647 < 0.81


def test_snapshot_sees_the_deliberate_security_mistakes(demo: Demo) -> None:
    snap = demo.snapshot
    functions = {f.name: f for f in snap.functions if f.schema in ("public", "auth")}
    definer = functions["increment_product_views"]
    assert definer.security_definer and definer.config is None
    trigger_fn = functions["set_updated_at"]
    assert trigger_fn.language == "plpgsql" and trigger_fn.config is None

    view = next(v for v in snap.views if v.name == "seller_storefronts")
    assert not any(o.startswith("security_invoker") for o in view.options)
    assert any(a.startswith("anon=r/") for a in view.acl or [])

    tables = {t.name: t for t in snap.tables if t.schema == "public"}
    policies = snap.policies_by_table
    assert tables["coupons"].rls_enabled and ("public", "coupons") not in policies
    assert not tables["messages"].rls_enabled and len(policies[("public", "messages")]) == 2
    assert not tables["audit_log"].rls_enabled
    assert any(a.startswith("anon=r/") for a in tables["users"].acl or [])
    user_columns = {c.name for c in snap.columns_by_table[("public", "users")]}
    assert {"password_hash", "api_token"} <= user_columns

    naive = [p for p in snap.policies if "auth.uid()" in (p.using or "") + (p.with_check or "")]
    assert naive and not any("SELECT auth.uid()" in (p.using or "") for p in naive)
    order_reads = [
        p
        for p in policies[("public", "orders")]
        if p.command == "SELECT" and p.permissive and "authenticated" in p.roles
    ]
    assert len(order_reads) == 2

    roles = snap.role_map
    assert roles["authenticator"].login and not roles["authenticator"].inherit
    assert {"anon", "authenticated"} <= set(roles["authenticator"].member_of)
    assert not roles["anon"].login and not roles["authenticated"].login


def test_checks_report_the_deliberate_mistakes(demo: Demo) -> None:
    """The checks that exist today find the planted mistakes (the lead extends this list)."""
    found = {(f.check, f.object) for f in run_checks(demo.snapshot).findings}
    expected = {
        ("unindexed_foreign_key", "public.orders (buyer_id)"),
        ("unindexed_foreign_key", "public.order_items (order_id)"),
        ("duplicate_index", "public.orders_seller_id_idx"),
        ("redundant_index", "public.products_seller_id_idx"),
        (
            "security_definer_function_search_path",
            "public.increment_product_views(product_id bigint)",
        ),
        ("function_search_path_mutable", "public.set_updated_at()"),
        ("security_definer_view", "public.seller_storefronts"),
        ("policy_without_rls", "public.messages"),
        ("rls_enabled_no_policy", "public.coupons"),
        ("rls_disabled", "public.audit_log"),
        ("missing_primary_key", "public.audit_log"),
        ("sequence_exhaustion", "public.audit_log (id)"),
        ("sensitive_columns_exposed", "public.users (password_hash, api_token)"),
        ("multiple_permissive_policies", "public.orders (role authenticated, SELECT)"),
        ("rls_initplan", 'public.orders (policy "Buyers can view their orders")'),
    }
    assert expected <= found, sorted(expected - found)


# -- the pipeline -----------------------------------------------------------------------------


def test_run_demo_end_to_end_at_small_scale(tmp_path: Path) -> None:
    output = io.StringIO()
    console = Console(file=output, width=120)
    result = run_demo(tmp_path / "out", False, console, scale=SCALE, calls=200)
    names = sorted(p.name for p in result.paths)
    assert names == [
        "ISOLATION.md",
        "PLAN.md",
        "RESULTS.md",
        "report.html",
        "report.json",
        "report.sarif",
        "workload.sql",
    ]
    assert all(p.stat().st_size > 0 for p in result.paths)
    steps = {
        "cluster",
        "schema",
        "data",
        "workload",
        "audit",
        "render",
        "probe",
        "scan",
        "isolation",
        "stop",
    }
    loop_steps = {"fix", "lint", "baseline", "apply", "verify", "reaudit"}
    assert set(result.timings) == steps | loop_steps
    # the loop: migrations written, lint clean, all applied, measured faster, score up
    loop = result.loop
    assert loop is not None and loop.plan.migrations
    assert not loop.lint.has_errors
    assert [str(m.action) for m in loop.applied.migrations] == ["applied"] * len(
        loop.plan.migrations
    )
    # at 2 % scale timings are too small to assert a speedup (bench/ measures it at scale 1);
    # what must hold: the replay ran everything, and plans now read the new indexes
    assert loop.comparison.speedup is not None and not loop.comparison.failures
    new_indexes = {i for row in loop.comparison.statements for i in row.indexes_added}
    assert "public.orders_buyer_id_idx" in new_indexes or any(
        i.startswith("public.orders_buyer_id") for i in new_indexes
    )
    before, after = loop.before.score, loop.after.score
    # the safe fixes are performance fixes; security waits for a person's review, so its
    # criticals keep the overall capped at 4.0 (the demo's uncapped mean is ~4.0 before)
    assert after.categories["performance"] >= before.categories["performance"] + 5
    assert after.overall >= before.overall and after.capped
    fixed_keys = {f.key for f in loop.before.findings} - {f.key for f in loop.after.findings}
    assert any(k.startswith("rls_initplan:") for k in fixed_keys)
    assert any(k.startswith("unindexed_foreign_key:") for k in fixed_keys)
    assert (tmp_path / "out" / "after" / "report.json").exists()
    assert (tmp_path / "out" / "migrations").is_dir()
    results = (tmp_path / "out" / "RESULTS.md").read_text()
    assert f"{loop.before.score.overall:.1f} → {loop.after.score.overall:.1f}" in results
    assert "| order_detail | authenticated |" in results
    assert result.counts["orders"] == Scale.of(SCALE).orders
    assert result.workload.total_calls == 200
    assert not result.kept and result.report.findings
    # one report, two surfaces: the API's probe findings sit next to the database's
    assert result.report.target["http"]["requests_sent"] <= 60
    probe_checks = {f.check for f in result.report.findings}
    assert {
        "cors_reflects_origin_with_credentials",
        "framework_debug_page",
        "no_rate_limit_on_login",
    } <= probe_checks
    # and three: the source tree it ships, scanned (the frontend's service_role key, the
    # login's console logging), its key never printed whole
    assert result.report.target["repo"]["files_scanned"] == 4
    assert {"secret_in_frontend", "console_logging_in_server"} <= probe_checks
    leak = next(f for f in result.report.findings if f.check == "secret_in_frontend")
    assert leak.object == "app/admin/supabase.ts:7" and leak.severity.label == "critical"
    key = (tmp_path / "out" / "source" / "app" / "admin" / "supabase.ts").read_text()
    key = key.split("'")[-2]
    assert key.count(".") == 2 and key not in (tmp_path / "out" / "PLAN.md").read_text()
    assert key not in (tmp_path / "out" / "report.json").read_text()
    # tenant isolation: the messages table leaks until its RLS is enabled, then nothing does
    isolation = result.isolation
    assert isolation is not None
    assert {leak.table for leak in isolation.before.leaks} == {"public.messages"}
    assert isolation.after.leaks == [] and isolation.after.rows_changed == 0
    assert "ISOLATION.md" in names
    text = output.getvalue()
    assert f"{result.report.score.overall:.1f}/10" in text
    assert str(tmp_path / "out" / "report.json") in text
    # the password is shown only when the cluster is kept, and this one is gone
    password = psycopg.conninfo.conninfo_to_dict(result.dsn)["password"]
    assert str(password) not in text
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(result.dsn, connect_timeout=2)


# -- helpers ----------------------------------------------------------------------------------


def _text_before_first_constant(query: str) -> str:
    """pg_stat_statements replaces constants with $n: compare the text before the first one."""
    ends = [i for i in (query.find("%("), query.find("'")) if i >= 0]
    ends += [i for i, ch in enumerate(query) if ch.isdigit()][:1]
    return query[: min(ends, default=len(query))]


def _index(snap: Snapshot, name: str) -> Index:
    return next(i for i in snap.indexes if i.name == name)


def _two_buyers_who_are_not_sellers(demo: Demo) -> tuple[Any, Any]:
    rows = demo.db.query(
        "SELECT o.buyer_id FROM public.orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM public.sellers s WHERE s.user_id = o.buyer_id)"
        " GROUP BY o.buyer_id ORDER BY count(*) DESC, o.buyer_id LIMIT 2"
    )
    return rows[0][0], rows[1][0]
