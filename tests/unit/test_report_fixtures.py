"""Hand-made reports shared by the renderer tests (plus checks that they cover what they claim)."""

from __future__ import annotations

from dataclasses import replace

from prodready.db.snapshot import Limitation
from prodready.model import Category, Finding, Fix, Severity, Suppressed
from prodready.report import FORMATS, render
from prodready.report.plan import Report, phases, score

HOSTILE_OBJECT = 'public."<script>alert(1)</script> | *x* _y_ `z` ""q"" ü€😀\nnext"'
HOSTILE_DETAIL = "Name has | pipes, `ticks`, <b>tags</b> & 'quotes'\nand a second line."
TARGET = {
    "database": {
        "name": "shop",
        "server_version": "15.6",
        "stats_reset": None,
        "stats_since": "2026-01-01T00:00:00+00:00",
        "collected_at": "2026-01-31T12:00:00+00:00",
        "role": "auditor",
    }
}
S, C = Severity, Category


def finding(
    check: str,
    severity: Severity,
    category: Category,
    obj: str,
    title: str,
    detail: str,
    evidence: dict[str, object] | None = None,
    fix: Fix | None = None,
    verify: str | None = None,
) -> Finding:
    return Finding(
        f"{check}:{obj}", check, severity, category, obj, title, detail, evidence or {}, fix, verify
    )


def sample_findings() -> list[Finding]:
    """Sixteen findings across every phase and category, one of them hostile."""
    return [
        finding(
            "rls_disabled",
            S.CRITICAL,
            C.SECURITY,
            "public.orders",
            "Tenant table without row-level security",
            "public.orders has a tenant_id column but row-level security is off, so any "
            "role with SELECT reads every tenant's rows.",
            {"rows": 1_250_000, "tenant_column": "tenant_id", "policies": 0},
            Fix(
                "ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE public.orders DISABLE ROW LEVEL SECURITY;",
                needs_review=True,
            ),
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.orders'::regclass",
        ),
        finding(
            "security_definer_search_path",
            S.CRITICAL,
            C.SECURITY,
            "public.transfer_funds(bigint, bigint, numeric)",
            "SECURITY DEFINER function without a fixed search_path",
            "The function runs as its owner (postgres) and resolves names through the "
            "caller's search_path, so a caller can hijack it with a schema of their own.",
            {"owner": "postgres", "owner_is_superuser": True},
            Fix(
                "ALTER FUNCTION public.transfer_funds(bigint, bigint, numeric)\n"
                "    SET search_path = pg_catalog, public;",
                "ALTER FUNCTION public.transfer_funds(bigint, bigint, numeric)\n"
                "    RESET search_path;",
            ),
        ),
        finding(
            "unindexed_foreign_key",
            S.HIGH,
            C.PERFORMANCE,
            "public.order_items (order_id)",
            "Foreign key without an index",
            "Deleting an order scans all 8,400,000 rows of public.order_items, and joins "
            "on order_id cannot use an index.",
            {
                "table_rows": 8_400_000,
                "table_bytes": 1_932_735_283,
                "seq_scan": 48_213,
                "stats_since": "2026-01-01T00:00:00+00:00",
                "stats_age_days": 30,
            },
            Fix(
                "CREATE INDEX CONCURRENTLY order_items_order_id_idx\n"
                "    ON public.order_items (order_id);",
                "DROP INDEX CONCURRENTLY public.order_items_order_id_idx;",
                transactional=False,
            ),
        ),
        finding(
            "table_without_primary_key",
            S.HIGH,
            C.RELIABILITY,
            "public.events",
            "Table without a primary key",
            "public.events has no primary key: logical replication cannot replicate "
            "updates and deletes, and duplicate rows cannot be told apart.",
            {"rows": 310_000, "replica_identity": "default"},
        ),
        finding(
            "superuser_application_role",
            S.HIGH,
            C.SECURITY,
            "role app",
            "Application connects as a superuser",
            "The role app is a superuser: one SQL injection owns the whole cluster.",
            {"superuser": True, "login": True},
            Fix("ALTER ROLE app NOSUPERUSER;", "ALTER ROLE app SUPERUSER;", needs_review=True),
        ),
        finding(
            "archive_disabled",
            S.HIGH,
            C.RELIABILITY,
            "cluster",
            "No WAL archiving",
            "archive_mode is off, so there is no point-in-time recovery: the best restore "
            "is the last full dump.",
            {"archive_mode": "off", "wal_level": "replica"},
        ),
        finding(
            "unused_index",
            S.MEDIUM,
            C.PERFORMANCE,
            "public.orders_status_idx",
            "Index never used",
            "public.orders_status_idx has not been scanned in 30 days and costs 412 MiB "
            "plus write amplification on every insert.",
            {"idx_scan": 0, "size_bytes": 432_013_312, "stats_age_days": 30},
            Fix(
                "DROP INDEX CONCURRENTLY public.orders_status_idx;",
                "CREATE INDEX CONCURRENTLY orders_status_idx ON public.orders "
                "USING btree (status);",
                transactional=False,
            ),
        ),
        finding(
            "unused_index",
            S.MEDIUM,
            C.PERFORMANCE,
            HOSTILE_OBJECT,
            "Index never used",
            HOSTILE_DETAIL,
            {"idx_scan": 0, "note | `x`": "<script>alert(2)</script>", "ratio": 0.5},
            Fix(
                'DROP INDEX CONCURRENTLY "```<script>";\n-- ``` end',
                "SELECT '</code></pre><script>alert(3)</script>';",
                transactional=False,
            ),
            "No rows from `SELECT 1 WHERE '<i>' = '|'`",
        ),
        finding(
            "missing_statement_timeout",
            S.MEDIUM,
            C.RELIABILITY,
            "role app",
            "No statement_timeout for the application role",
            "A runaway query from role app can hold locks and a connection forever.",
            {"statement_timeout": "0"},
            Fix(
                "ALTER ROLE app SET statement_timeout = '30s';",
                "ALTER ROLE app RESET statement_timeout;",
            ),
        ),
        finding(
            "seq_scan_heavy_table",
            S.MEDIUM,
            C.PERFORMANCE,
            "public.line_items",
            "Large table read mostly by sequential scans",
            "98.7% of reads on public.line_items (2.1 GiB) are sequential scans.",
            {
                "seq_scan": 91_422,
                "idx_scan": 1_190,
                "seq_scan_pct": 98.7,
                "total_bytes": 2_254_857_830,
            },
        ),
        finding(
            "pg_stat_statements_missing",
            S.MEDIUM,
            C.OBSERVABILITY,
            "database shop",
            "pg_stat_statements is not installed",
            "Without pg_stat_statements nobody can tell which queries are slow.",
            {"shared_preload_libraries": ""},
            Fix("CREATE EXTENSION pg_stat_statements;", "DROP EXTENSION pg_stat_statements;"),
        ),
        finding(
            "slow_query_logging_off",
            S.LOW,
            C.OBSERVABILITY,
            "cluster",
            "Slow queries are not logged",
            "log_min_duration_statement is -1, so slow queries leave no trace in the logs.",
            {"log_min_duration_statement": -1},
        ),
        finding(
            "idle_in_transaction_timeout",
            S.LOW,
            C.RELIABILITY,
            "role app",
            "No idle_in_transaction_session_timeout",
            "Sessions of role app left idle in a transaction hold locks and block vacuum.",
            {"idle_in_transaction_session_timeout": "0"},
            Fix(
                "ALTER ROLE app SET idle_in_transaction_session_timeout = '60s';",
                "ALTER ROLE app RESET idle_in_transaction_session_timeout;",
            ),
        ),
        finding(
            "table_bloat",
            S.LOW,
            C.PERFORMANCE,
            "public.sessions",
            "Dead rows pile up faster than autovacuum removes them",
            "34% of public.sessions rows are dead (120,000 of 352,000).",
            {"n_dead_tup": 120_000, "n_live_tup": 232_000, "dead_pct": 34.09},
        ),
        finding(
            "autovacuum_defaults",
            S.INFO,
            C.RELIABILITY,
            "cluster",
            "Autovacuum runs with default settings",
            "Defaults are fine for small tables; large tables may need per-table settings.",
            {"autovacuum_vacuum_scale_factor": 0.2},
        ),
        finding(
            "log_connections_off",
            S.INFO,
            C.OBSERVABILITY,
            "cluster",
            "Connections are not logged",
            "log_connections is off; failed logins leave no trace.",
            {"log_connections": "off"},
        ),
    ]


def sample_suppressed() -> list[Suppressed]:
    legacy = finding(
        "unused_index",
        S.MEDIUM,
        C.PERFORMANCE,
        "public.orders_legacy_idx",
        "Index never used",
        "Never scanned.",
        {"idx_scan": 0},
    )
    audit = finding(
        "table_without_primary_key",
        S.HIGH,
        C.RELIABILITY,
        "audit.log_2025",
        "Table without a primary key",
        "No primary key.",
    )
    return [
        Suppressed(audit, "append-only archive partition | never updated"),
        Suppressed(legacy, "used by the month-end report <script>x</script>"),
    ]


def make_report(
    findings: list[Finding],
    suppressed: list[Suppressed] | None = None,
    limitations: list[Limitation] | None = None,
    failures: list[tuple[str, str]] | None = None,
) -> Report:
    ordered = sorted(findings, key=Finding.sort_key)
    return Report(
        generated_at="2026-01-31T12:00:05+00:00",
        target=TARGET,
        score=score(ordered),
        findings=ordered,
        suppressed=suppressed or [],
        phases=phases(ordered),
        limitations=limitations or [],
        failures=failures or [],
    )


def sample_report() -> Report:
    return make_report(
        sample_findings(),
        sample_suppressed(),
        [
            Limitation("statements", "pg_stat_statements is not installed in database shop"),
            Limitation("roles", "permission denied for table pg_authid"),
        ],
        [("replication_lag", "KeyError: 'replay_lsn'")],
    )


def empty_report() -> Report:
    return make_report([])


def test_sample_covers_every_phase_and_category() -> None:
    report = sample_report()
    assert [len(p.items) for p in report.phases] == [2, 4, 5, 5]
    assert {f.category for f in report.findings} == set(Category)
    assert report.score.capped and report.score.overall == 4.0
    assert report.suppressed and report.limitations and report.failures


def test_empty_report_scores_ten() -> None:
    report = empty_report()
    assert report.score.overall == 10.0 and all(not p.items for p in report.phases)


def test_every_format_renders_a_target_without_a_database() -> None:
    report = replace(sample_report(), target={})
    texts = {fmt: render(report, fmt) for fmt in FORMATS}
    assert texts["md"].startswith("# Production readiness plan: unknown\n")
    assert "prodready · unknown" in texts["terminal"]
    assert all("public.orders" in text for text in texts.values())
