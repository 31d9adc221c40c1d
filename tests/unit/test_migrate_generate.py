"""From report JSON to migrations: selection, overlaps, order, robust index DDL, file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prodready.errors import UsageError
from prodready.migrate.generate import plan_fixes, robust
from prodready.migrate.model import read_migrations, write_migrations


def finding(
    check: str,
    obj: str,
    sql: str,
    rollback: str | None,
    *,
    transactional: bool = True,
    review: bool = False,
    severity: str = "medium",
) -> dict[str, Any]:
    return {
        "key": f"{check}:{obj}",
        "check": check,
        "severity": severity,
        "object": obj,
        "title": f"title of {check}",
        "detail": "two\nlines of detail",
        "evidence": {"rows": 1200},
        "verify": "run the audit again",
        "fix": {
            "sql": sql,
            "rollback_sql": rollback,
            "transactional": transactional,
            "needs_review": review,
        },
    }


FK_ORDERS = finding(
    "unindexed_foreign_key",
    "public.orders (buyer_id)",
    'CREATE INDEX CONCURRENTLY "orders_buyer_id_idx" ON "public"."orders" ("buyer_id")',
    'DROP INDEX CONCURRENTLY "public"."orders_buyer_id_idx"',
    transactional=False,
)
FK_FAVORITES = finding(
    "unindexed_foreign_key",
    "public.favorites (product_id)",
    'CREATE INDEX CONCURRENTLY "favorites_product_id_idx" ON "public"."favorites" ("product_id")',
    'DROP INDEX CONCURRENTLY "public"."favorites_product_id_idx"',
    transactional=False,
)
DUPLICATE = finding(
    "duplicate_index",
    "public.orders_seller_id_idx",
    'DROP INDEX CONCURRENTLY "public"."orders_seller_id_idx"',
    "CREATE INDEX CONCURRENTLY orders_seller_id_idx ON public.orders USING btree (seller_id)",
    transactional=False,
)
POLICY = finding(
    "rls_initplan",
    'public.orders (policy "Buyers can view")',
    'ALTER POLICY "Buyers can view" ON "public"."orders" USING (buyer_id = (SELECT auth.uid()))',
    'ALTER POLICY "Buyers can view" ON "public"."orders" USING (buyer_id = auth.uid())',
)
ENABLE_RLS = finding(
    "policy_without_rls",
    "public.messages",
    'ALTER TABLE "public"."messages" ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE "public"."messages" DISABLE ROW LEVEL SECURITY',
    review=True,
    severity="critical",
)
NO_ROLLBACK = finding("timeouts_unset", "database app (statement_timeout)", "SELECT 1", None)

ADVISED = {
    "table": "public.orders",
    "definition": 'CREATE INDEX CONCURRENTLY "orders_buyer_id_created_at_idx" ON "public"."orders" '
    '("buyer_id", "created_at" DESC)',
    "rollback": 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_buyer_id_created_at_idx"',
    "estimated_bytes": 2_000_000,
    "confidence": "estimated",
    "benefit": {"workload_cost_before": 1000.0, "workload_cost_after": 100.0},
    "queries": [{"query": "SELECT 1 FROM orders", "calls": 10, "cost_before": 90, "cost_after": 2}],
    "reason": "cheaper",
}
TRIGRAM = {
    **ADVISED,
    "table": "public.products",
    "definition": 'CREATE INDEX CONCURRENTLY "products_name_gin_idx" ON "public"."products" '
    'USING gin ("name" "gin_trgm_ops")',
    "rollback": 'DROP INDEX CONCURRENTLY IF EXISTS "public"."products_name_gin_idx"',
    "confidence": "unvalidated",
}
ADVISED_DROP = {
    "index": "public.orders_seller_id_idx",
    "reason": "duplicate",
    "estimated_bytes": 8192,
    "definition": 'DROP INDEX CONCURRENTLY "public"."orders_seller_id_idx"',
    "rollback": "CREATE INDEX CONCURRENTLY orders_seller_id_idx ON public.orders USING btree "
    "(seller_id)",
    "detail": "identical to another",
}


def report(findings: list[dict[str, Any]], advisor: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"tool": "prodready", "findings": findings, "advisor": advisor}


def test_each_fix_becomes_one_numbered_migration_with_its_rollback() -> None:
    plan = plan_fixes(report([POLICY, FK_FAVORITES]))
    assert [m.name for m in plan.migrations] == [
        "0001_rewrite_policy_orders_policy_buyers_can_view",
        "0002_add_index_favorites_product_id_idx",
    ]
    policy, index = plan.migrations
    assert policy.transactional and not policy.review_required
    assert policy.down_sql == POLICY["fix"]["rollback_sql"]
    assert not index.transactional
    # re-runnable after an interrupted apply: the index may already exist
    assert index.up_sql.startswith(
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "favorites_product_id_idx"'
    )
    assert index.down_sql == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."favorites_product_id_idx"'


def test_header_names_the_finding_its_evidence_and_the_expected_effect() -> None:
    (migration,) = plan_fixes(report([POLICY])).migrations
    text = migration.file_text("up")
    assert "finding: rls_initplan [medium] key=rls_initplan:public.orders" in text
    assert 'evidence: {"rows": 1200}' in text
    assert "-- detail: two lines of detail" in text  # newlines folded, still one comment line
    assert "expected effect: `prodready audit` no longer reports" in text
    assert all(line.startswith("--") for line in text.split("\n\n")[0].splitlines())


def test_review_required_fixes_only_on_request_and_marked() -> None:
    plain = plan_fixes(report([ENABLE_RLS]))
    assert plain.migrations == []
    assert plain.skipped[0].reason.startswith("needs a person's review")
    (migration,) = plan_fixes(report([ENABLE_RLS]), include_review=True).migrations
    assert migration.review_required
    assert "-- prodready:review-required" in migration.file_text("up")
    assert "review-required" not in migration.file_text("down")


def test_fix_without_rollback_is_skipped_with_reason() -> None:
    plan = plan_fixes(report([NO_ROLLBACK]))
    assert plan.migrations == []
    assert plan.skipped[0].reason == "no rollback is known; left for a person"


def test_advisor_index_covering_a_foreign_key_replaces_the_plain_fk_index() -> None:
    plan = plan_fixes(report([FK_ORDERS, FK_FAVORITES], {"indexes": [ADVISED], "drops": []}))
    names = [m.name for m in plan.migrations]
    assert names == [
        "0001_add_index_orders_buyer_id_created_at_idx",
        "0002_add_index_favorites_product_id_idx",
    ]
    (skip,) = plan.skipped
    assert skip.object == "public.orders_buyer_id_idx"
    assert "leads with the same columns" in skip.reason
    assert "expected effect: workload cost 1,000 -> 100" in plan.migrations[0].file_text("up")


def test_partial_advisor_index_does_not_replace_an_fk_index() -> None:
    partial = {**ADVISED, "definition": ADVISED["definition"] + " WHERE status = 'open'"}
    plan = plan_fixes(report([FK_ORDERS], {"indexes": [partial], "drops": []}))
    assert len(plan.migrations) == 2


def test_unvalidated_advice_needs_review() -> None:
    advisor = {"indexes": [TRIGRAM], "drops": []}
    assert plan_fixes(report([], advisor)).migrations == []
    (migration,) = plan_fixes(report([], advisor), include_review=True).migrations
    assert migration.review_required


def test_an_index_s_requirement_is_its_own_migration_with_an_exact_rollback() -> None:
    needs = {**TRIGRAM, "requires": ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]}
    plan = plan_fixes(report([], {"indexes": [needs], "drops": []}), include_review=True)
    extension, index = plan.migrations
    assert extension.name == "0001_create_extension_pg_trgm"
    assert extension.up_sql == "CREATE EXTENSION IF NOT EXISTS pg_trgm"
    assert extension.down_sql == (
        '-- squawk-ignore ban-drop-extension\nDROP EXTENSION IF EXISTS "pg_trgm"'
    )
    assert extension.transactional and extension.review_required
    assert index.name == "0002_add_index_products_name_gin_idx"


def test_drops_come_last_and_only_once() -> None:
    plan = plan_fixes(report([DUPLICATE, POLICY], {"indexes": [ADVISED], "drops": [ADVISED_DROP]}))
    names = [m.name for m in plan.migrations]
    assert names[-1] == "0003_drop_index_orders_seller_id_idx"
    assert len(names) == 3
    assert plan.skipped[0].reason == "the advisor already drops this index"
    drop = plan.migrations[-1]
    assert drop.up_sql == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_seller_id_idx"'
    # the down of a drop is the original definition, re-runnable
    assert drop.down_sql == (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_seller_id_idx ON public.orders "
        "USING btree (seller_id)"
    )


def test_only_selects_checks_and_the_advisor() -> None:
    both = report([POLICY, FK_FAVORITES], {"indexes": [ADVISED], "drops": []})
    assert [m.slug for m in plan_fixes(both, only=["rls_initplan"]).migrations] == [
        "rewrite_policy_orders_policy_buyers_can_view"
    ]
    assert [m.slug for m in plan_fixes(both, only=["index_advisor"]).migrations] == [
        "add_index_orders_buyer_id_created_at_idx"
    ]


def test_identical_fixes_are_planned_once() -> None:
    again = {**FK_FAVORITES, "key": "other", "object": "public.favorites (product_id) #2"}
    plan = plan_fixes(report([FK_FAVORITES, again]))
    assert len(plan.migrations) == 1
    assert plan.skipped[0].reason == "the same change is already planned"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
        ),
        ("CREATE UNIQUE INDEX i ON t (a)", "CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a)"),
        ("CREATE INDEX IF NOT EXISTS i ON t (a)", "CREATE INDEX IF NOT EXISTS i ON t (a)"),
        ('DROP INDEX CONCURRENTLY "s"."i"', 'DROP INDEX CONCURRENTLY IF EXISTS "s"."i"'),
        ("ALTER TABLE t ENABLE ROW LEVEL SECURITY", "ALTER TABLE t ENABLE ROW LEVEL SECURITY"),
        (
            "ALTER SYSTEM SET x = '1'; SELECT pg_reload_conf()",
            "ALTER SYSTEM SET x = '1';\nSELECT pg_reload_conf()",
        ),
    ],
)
def test_robust_index_ddl(script: str, expected: str) -> None:
    assert robust(script) == expected


def test_written_files_read_back_and_numbering_continues(tmp_path: Path) -> None:
    first = plan_fixes(report([POLICY])).migrations
    write_migrations(tmp_path, first)
    write_migrations(tmp_path, plan_fixes(report([FK_FAVORITES])).migrations)
    read = read_migrations(tmp_path)
    assert [m.name for m in read] == [
        "0001_rewrite_policy_orders_policy_buyers_can_view",
        "0002_add_index_favorites_product_id_idx",
    ]
    assert read[0].up_transactional and not read[1].up_transactional
    assert not read[1].down_transactional
    assert read[1].up_sql.rstrip().endswith('("product_id");')


def test_writing_into_a_broken_directory_writes_nothing(tmp_path: Path) -> None:
    migrations = plan_fixes(report([POLICY, FK_FAVORITES])).migrations
    (tmp_path / "0001_mine.up.sql").write_text("-- no down file\n")
    with pytest.raises(UsageError, match=r"0001_mine has no \.down\.sql file"):
        write_migrations(tmp_path, migrations)
    assert [p.name for p in tmp_path.iterdir()] == ["0001_mine.up.sql"]


def _drop(name: str, table: str) -> dict[str, Any]:
    return finding(
        "duplicate_index", f"public.{name}", f'DROP INDEX CONCURRENTLY "public"."{name}"',
        f'CREATE INDEX CONCURRENTLY "{name}" ON "public"."{table}" ("x")', transactional=False,
    )  # fmt: skip


def test_group_by_kind_writes_one_migration_per_kind_in_plan_order() -> None:
    drops = [_drop("a_idx", "orders"), _drop("b_idx", "orders"), _drop("c_idx", "favorites")]
    findings = [FK_ORDERS, FK_FAVORITES, POLICY, *drops]
    assert len(plan_fixes(report(findings)).migrations) == 6  # the default: one per change
    kind = plan_fixes(report(findings), group="kind").migrations
    assert [m.name for m in kind] == [
        "0001_add_index_2_changes", "0002_rewrite_policy_orders_policy_buyers_can_view",
        "0003_drop_index_3_changes",
    ]  # fmt: skip
    add = kind[0]
    assert not add.transactional and add.up_sql.count("CREATE INDEX CONCURRENTLY") == 2
    # undone in reverse: the favorites index (created second) is dropped first
    assert add.down_sql.index("favorites_product_id_idx") < add.down_sql.index("orders_buyer")
    assert add.header[0].startswith("2 changes (add index)")
    by_table = plan_fixes(report(findings), group="table").migrations
    assert [m.slug for m in by_table] == [
        "add_index_orders_buyer_id_idx", "add_index_favorites_product_id_idx",
        "rewrite_policy_orders_policy_buyers_can_view", "drop_index_orders",
        "drop_index_c_idx",
    ]  # fmt: skip
    assert by_table[3].up_sql.count("DROP INDEX") == 2


def test_grouping_never_mixes_transactional_and_concurrent_changes() -> None:
    tx = finding(
        "rls_disabled",
        "public.orders",
        'ALTER TABLE "public"."orders" ENABLE ROW LEVEL SECURITY',
        'ALTER TABLE "public"."orders" DISABLE ROW LEVEL SECURITY',
    )
    migrations = plan_fixes(report([FK_ORDERS, tx, FK_FAVORITES]), group="kind").migrations
    assert [(m.slug.split("_")[0], m.transactional) for m in migrations] == [
        ("add", False), ("enable", True)
    ]  # fmt: skip


def test_extension_requirements_come_before_any_grouped_index() -> None:
    needs = {**TRIGRAM, "requires": ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]}
    advisor = {"indexes": [ADVISED, needs], "drops": []}
    planned = plan_fixes(report([], advisor), include_review=True, group="kind").migrations
    assert [m.slug for m in planned] == [
        "create_extension_pg_trgm",
        "add_index_orders_buyer_id_created_at_idx",
        "add_index_products_name_gin_idx",  # review-required: not grouped with a validated one
    ]
