"""Table checks from hand-built snapshots: primary keys, sequential scans, bloat, vacuum and
statistics freshness."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.tables import estimate_bloat
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f

MIB = 1024 * 1024
RECENT = "2026-01-31T11:50:00+00:00"  # ten minutes before factories.COLLECTED_AT


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


# -- missing_primary_key --


def test_table_without_primary_key_fires_without_fix() -> None:
    snap = f.snapshot(tables=[f.table("events", has_primary_key=False, reltuples=42.0)])
    [found] = run("missing_primary_key", snap)
    assert found.object == "public.events" and found.severity is Severity.MEDIUM
    assert found.fix is None and found.evidence["rows"] == 42
    assert found.evidence["promotable_index"] is None
    assert "no plain unique index on NOT NULL columns" in found.detail


@pytest.mark.parametrize(
    "table",
    [
        f.table("t"),
        f.table("t", has_primary_key=False, is_partition=True, parent_schema="public",
                parent_name="p"),
        f.table("t", has_primary_key=False, kind="m"),
        f.table("t", has_primary_key=False, kind="f"),
        f.table("t", has_primary_key=False, extension="postgis"),
    ],
    ids=["has-pk", "partition", "matview", "foreign", "extension"],
)  # fmt: skip
def test_missing_primary_key_is_silent(table: s.Table) -> None:
    assert run("missing_primary_key", f.snapshot(tables=[table])) == []


def test_pg_partman_template_tables_are_skipped() -> None:
    template = f.table("template_public_events", schema="partman", has_primary_key=False)
    partman = s.Extension("pg_partman", "partman", "4.7.4", False)
    assert run("missing_primary_key", f.snapshot(tables=[template], extensions=[partman])) == []
    # the same name without pg_partman installed there is an ordinary table
    [found] = run("missing_primary_key", f.snapshot(tables=[template]))
    assert found.object == "partman.template_public_events"


def test_partitioned_table_without_primary_key_counts_its_partitions() -> None:
    tables = [
        f.table("p", kind="p", has_primary_key=False, reltuples=-1.0),
        f.table("p1", has_primary_key=False, is_partition=True, parent_schema="public",
                parent_name="p", reltuples=300.0),
        f.table("p2", has_primary_key=False, is_partition=True, parent_schema="public",
                parent_name="p", reltuples=700.0),
    ]  # fmt: skip
    [found] = run("missing_primary_key", f.snapshot(tables=tables))
    assert found.object == "public.p" and found.evidence["rows"] == 1000 and found.fix is None


def unique(name: str, columns: list[str], **kw: Any) -> s.Index:
    definition = f"CREATE UNIQUE INDEX {name} ON public.t USING btree ({', '.join(columns)})"
    return f.index(name, "t", columns, is_unique=True, definition=definition, **kw)


def pk_snap(*indexes: s.Index, nullable: tuple[str, ...] = ()) -> s.Snapshot:
    columns = [
        f.column("t", name, n, not_null=name not in nullable)
        for n, name in enumerate(["code", "region", "note"], 1)
    ]
    return f.snapshot(
        tables=[f.table("t", has_primary_key=False)], columns=columns, indexes=list(indexes)
    )


def test_unique_not_null_index_is_promoted_to_primary_key() -> None:
    snap = pk_snap(unique("t_code_region_key", ["code", "region"]), unique("t_code_key", ["code"]))
    [found] = run("missing_primary_key", snap)
    assert found.evidence["promotable_index"] == "public.t_code_key"
    assert found.fix is not None and found.fix.transactional and found.fix.needs_review
    assert found.fix.sql == 'ALTER TABLE "public"."t" ADD PRIMARY KEY USING INDEX "t_code_key"'
    assert found.fix.rollback_sql == (
        'ALTER TABLE "public"."t" DROP CONSTRAINT "t_code_key";\n'
        "CREATE UNIQUE INDEX t_code_key ON public.t USING btree (code);"
    )


@pytest.mark.parametrize(
    "index",
    [
        unique("u", ["note"]),
        unique("u", ["code"], predicate="(code > 0)"),
        unique("u", ["code"], constraint_name="u", constraint_type="u"),
        unique("u", ["code"], options=[3]),
        unique("u", ["lower(code)"], attnums=[0]),
        unique("u", ["code", "note"], n_key_columns=1),
        unique("u", ["code"], is_valid=False),
        unique("u", ["code"], referenced_by_fk=True),
        f.index("u", "t", ["code"]),
    ],
    ids=["nullable", "partial", "constraint", "desc", "expression", "include", "invalid",
         "fk-target", "not-unique"],
)  # fmt: skip
def test_unpromotable_indexes_leave_no_fix(index: s.Index) -> None:
    [found] = run("missing_primary_key", pk_snap(index, nullable=("note",)))
    assert found.fix is None


# -- seq_scan_heavy_table --


def seq_table(**kw: Any) -> s.Table:
    base: dict[str, Any] = dict(
        reltuples=100_000.0, n_live_tup=100_000, seq_scan=5000, seq_tup_read=5000 * 100_000,
        idx_scan=100,
    )  # fmt: skip
    return f.table("events", **{**base, **kw})


def test_seq_scan_heavy_table_fires_with_evidence() -> None:
    [found] = run("seq_scan_heavy_table", f.snapshot(tables=[seq_table()]))
    assert found.object == "public.events" and found.severity is Severity.MEDIUM
    assert found.fix is None and "prodready advise" in found.detail
    ev = found.evidence
    assert ev["seq_scan"] == 5000 and ev["idx_scan"] == 100 and ev["n_live_tup"] == 100_000
    assert ev["rows_per_seq_scan"] == 100_000 and ev["seq_scan_share"] == pytest.approx(0.98, 0.01)
    assert ev["seq_scans_per_day"] == pytest.approx(5000 / 30.5, 0.01)
    assert ev["stats_age_days"] == 30.5


@pytest.mark.parametrize(
    "table",
    [
        seq_table(reltuples=5000.0, n_live_tup=5000, seq_tup_read=5000 * 5000),
        seq_table(seq_scan=50, seq_tup_read=50 * 100_000),
        seq_table(seq_scan=600, seq_tup_read=600 * 100_000),  # under 24 a day over 30 days
        seq_table(seq_tup_read=5000 * 100),  # LIMIT-style scans that stop early
        seq_table(idx_scan=50_000),
        seq_table(seq_scan=None, seq_tup_read=None, idx_scan=None),
        seq_table(extension="timescaledb"),
    ],
    ids=["small", "few-scans", "rare", "short-scans", "index-dominated", "no-stats", "ext"],
)
def test_seq_scan_heavy_table_is_silent(table: s.Table) -> None:
    assert run("seq_scan_heavy_table", f.snapshot(tables=[table])) == []


def test_seq_scan_thresholds_are_configurable() -> None:
    snap = f.snapshot(tables=[seq_table(seq_scan=600, seq_tup_read=600 * 100_000)])
    assert len(run("seq_scan_heavy_table", snap, min_seq_scans_per_day=10.0)) == 1


# -- table_bloat --


def bloat_columns(table: str = "events", text_width: int | None = 20) -> list[s.Column]:
    return [
        f.column(table, "id", 1, type="bigint", type_length=8, type_align="d", avg_width=8,
                 null_frac=0.0),
        f.column(table, "name", 2, type="text", type_length=-1, type_align="i",
                 avg_width=text_width, null_frac=0.0),
        f.column(table, "at", 3, type="timestamptz", type_length=8, type_align="d",
                 avg_width=8, null_frac=0.0),
    ]  # fmt: skip


def bloat_snap(
    relpages: int = 4000, columns: list[s.Column] | None = None, **kw: Any
) -> s.Snapshot:
    base: dict[str, Any] = dict(reltuples=120_000.0, relpages=relpages, n_live_tup=120_000,
                                n_dead_tup=1000)  # fmt: skip
    table = f.table("events", **{**base, **kw})
    return f.snapshot(tables=[table], columns=bloat_columns() if columns is None else columns)


def test_bloat_estimate_follows_postgres_row_layout() -> None:
    snap = bloat_snap()
    estimate = estimate_bloat(snap, snap.tables[0])
    # header 24 + id 8 + short text 20 (unaligned) + timestamptz aligned to 32 + 8 = 64 bytes
    assert estimate is not None and estimate.row_bytes == 64
    # 8168 usable bytes / (64 + 4-byte line pointer) = 120 rows a page -> 1000 pages
    assert estimate.expected_bytes == 1000 * 8192 and estimate.ratio == 0.75


def test_bloated_table_fires_with_numbers() -> None:
    [found] = run("table_bloat", bloat_snap())
    assert found.object == "public.events" and found.severity is Severity.MEDIUM
    ev = found.evidence
    assert ev["heap_bytes"] == 4000 * 8192 and ev["expected_bytes"] == 1000 * 8192
    assert ev["wasted_bytes"] == 3000 * 8192 and ev["bloat_ratio"] == 0.75
    assert ev["estimated_row_bytes"] == 64 and ev["fillfactor"] == 100
    assert found.fix is None and "pg_repack" in found.detail
    assert "75%" in found.detail and "23.4 MB" in found.detail


def test_bloat_with_many_dead_rows_recommends_vacuum() -> None:
    [found] = run("table_bloat", bloat_snap(n_dead_tup=200_000))
    assert "62% of its rows are dead: VACUUM makes their space reusable" in found.detail
    assert found.evidence["dead_share"] == pytest.approx(0.625, 0.01)


def test_nulls_add_a_bitmap_and_shrink_rows() -> None:
    columns = bloat_columns()
    columns[1] = replace(columns[1], null_frac=1.0)
    snap = bloat_snap(columns=columns)
    estimate = estimate_bloat(snap, snap.tables[0])
    # header 23 + 1-byte null bitmap -> 24; id 8, then at aligned: 16 bytes of data
    assert estimate is not None and estimate.row_bytes == 40


@pytest.mark.parametrize(
    "snap",
    [
        bloat_snap(relpages=1100),
        bloat_snap(relpages=1000, reltuples=30_000.0),  # 8 MB: under the minimum size
        bloat_snap(reloptions=["fillfactor=50"]),
        bloat_snap(columns=bloat_columns(text_width=None)),
        bloat_snap(reltuples=-1.0),
        bloat_snap(columns=[]),
        bloat_snap(extension="postgis"),
    ],
    ids=["healthy", "small", "fillfactor", "no-stats", "never-vacuumed", "no-columns", "ext"],
)
def test_table_bloat_is_silent(snap: s.Snapshot) -> None:
    assert run("table_bloat", snap) == []


def test_bloat_thresholds_are_configurable() -> None:
    snap = bloat_snap(relpages=1100)
    options = {"min_bloat_ratio": 0.05, "min_wasted_bytes": 0, "min_table_bytes": 0}
    assert len(run("table_bloat", snap, **options)) == 1


# -- vacuum_overdue --


def vacuum_table(**kw: Any) -> s.Table:
    base: dict[str, Any] = dict(reltuples=100_000.0, n_live_tup=100_000, n_dead_tup=50_000,
                                reloptions=["autovacuum_enabled=false"])  # fmt: skip
    return f.table("orders", **{**base, **kw})


def test_vacuum_overdue_with_autovacuum_disabled() -> None:
    [found] = run("vacuum_overdue", f.snapshot(tables=[vacuum_table(last_autovacuum=RECENT)]))
    assert found.object == "public.orders" and found.severity is Severity.MEDIUM
    ev = found.evidence
    assert ev["n_dead_tup"] == 50_000 and ev["autovacuum_trigger"] == 20_050
    assert ev["vacuum_threshold"] == 50 and ev["vacuum_scale_factor"] == 0.2
    assert ev["autovacuum_enabled"] is False
    assert "autovacuum_enabled=false" in found.detail
    assert found.fix is not None and found.fix.transactional is False
    assert found.fix.sql == 'VACUUM (ANALYZE) "public"."orders"' and found.fix.rollback_sql is None


def test_vacuum_overdue_when_autovacuum_has_not_run_for_long() -> None:
    [found] = run("vacuum_overdue", f.snapshot(tables=[vacuum_table(reloptions=[])]))
    assert found.evidence["autovacuum_enabled"] is True
    assert "has not vacuumed it for 30 days" in found.detail


def test_vacuum_overdue_honours_server_switch_and_table_settings() -> None:
    off = f.snapshot(
        tables=[vacuum_table(reloptions=[])], settings=[f.setting("autovacuum", "off")]
    )
    assert "off for the whole server" in run("vacuum_overdue", off)[0].detail
    eager = vacuum_table(n_dead_tup=15_000, reloptions=["autovacuum_vacuum_scale_factor=0.01"])
    assert (
        run("vacuum_overdue", f.snapshot(tables=[eager]))[0].evidence["autovacuum_trigger"] == 1050
    )
    lazy = f.snapshot(
        tables=[vacuum_table()], settings=[f.setting("autovacuum_vacuum_scale_factor", "0.5")]
    )
    assert run("vacuum_overdue", lazy) == []


@pytest.mark.parametrize(
    "table",
    [
        vacuum_table(reloptions=[], last_autovacuum=RECENT),
        vacuum_table(n_dead_tup=30_000),
        vacuum_table(reltuples=1000.0, n_dead_tup=5000),
        vacuum_table(n_dead_tup=None),
        vacuum_table(kind="p"),
        vacuum_table(extension="pg_partman"),
    ],
    ids=["recent-autovacuum", "within-margin", "few-dead", "no-stats", "partitioned", "ext"],
)
def test_vacuum_overdue_is_silent(table: s.Table) -> None:
    assert run("vacuum_overdue", f.snapshot(tables=[table])) == []


# -- stale_statistics --


def never_analyzed(**kw: Any) -> s.Snapshot:
    base: dict[str, Any] = dict(reltuples=-1.0, n_live_tup=5000, n_mod_since_analyze=5000,
                                last_analyze=None, last_autoanalyze=None)  # fmt: skip
    table = f.table("imports", **{**base, **kw})
    columns = [f.column("imports", "id"), f.column("imports", "payload", 2, type="jsonb")]
    return f.snapshot(tables=[table], columns=columns)


def test_never_analyzed_table_with_rows_fires() -> None:
    [found] = run("stale_statistics", never_analyzed())
    assert found.object == "public.imports" and found.severity is Severity.MEDIUM
    assert found.evidence["rows"] == 5000 and found.evidence["last_analyze"] is None
    assert "never been analyzed" in found.detail
    assert found.fix is not None and found.fix.transactional
    assert found.fix.sql == 'ANALYZE "public"."imports"' and found.fix.rollback_sql is None


def test_never_analyzed_is_silent_for_tiny_tables_or_existing_statistics() -> None:
    assert run("stale_statistics", never_analyzed(n_live_tup=10, n_mod_since_analyze=10)) == []
    analyzed = never_analyzed(reltuples=5000.0, n_mod_since_analyze=0)
    columns = [replace(c, avg_width=4) for c in analyzed.columns]
    # statistics survive a reset of the activity counters (which blanks last_analyze)
    assert run("stale_statistics", f.snapshot(tables=analyzed.tables, columns=columns)) == []


def stale_table(**kw: Any) -> s.Table:
    base: dict[str, Any] = dict(reltuples=100_000.0, n_mod_since_analyze=30_000)
    return f.table("orders", **{**base, **kw})


def test_stale_statistics_fire_past_the_autoanalyze_trigger() -> None:
    [found] = run("stale_statistics", f.snapshot(tables=[stale_table()]))
    ev = found.evidence
    assert ev["n_mod_since_analyze"] == 30_000 and ev["autoanalyze_trigger"] == 10_050
    assert ev["analyze_scale_factor"] == 0.1 and ev["last_analyze"] == f.STARTED_AT
    assert "last analyzed for 30 days" in found.detail
    assert found.fix is not None and found.fix.sql == 'ANALYZE "public"."orders"'


@pytest.mark.parametrize(
    "table",
    [
        stale_table(n_mod_since_analyze=15_000),
        stale_table(last_autoanalyze=RECENT),
        stale_table(reltuples=100.0, n_mod_since_analyze=900),
        stale_table(reloptions=["autovacuum_analyze_scale_factor=0.5"]),
        stale_table(kind="f"),
    ],
    ids=["within-margin", "recent-autoanalyze", "tiny", "table-setting", "foreign"],
)
def test_stale_statistics_are_silent(table: s.Table) -> None:
    assert run("stale_statistics", f.snapshot(tables=[table])) == []


def test_stale_statistics_with_autovacuum_disabled_ignore_the_grace_period() -> None:
    table = stale_table(last_analyze=RECENT, reloptions=["autovacuum_enabled=off"])
    [found] = run("stale_statistics", f.snapshot(tables=[table]))
    assert found.evidence["autovacuum_enabled"] is False
