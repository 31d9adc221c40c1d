"""Workload checks from hand-built snapshots: cache hit ratio and slow statements."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


# -- low_cache_hit_ratio --


def cache_snap(hit: int, read: int) -> s.Snapshot:
    return f.snapshot(
        database=f.database(blks_hit=hit, blks_read=read, size_bytes=50 * 1024**3),
        settings=[f.setting("shared_buffers", "16384", "8kB", vartype="integer")],
    )


def test_low_cache_hit_ratio_fires_with_shared_buffers() -> None:
    [found] = run("low_cache_hit_ratio", cache_snap(hit=9_500_000, read=500_000))
    assert found.object == "database app" and found.severity is Severity.MEDIUM
    ev = found.evidence
    assert ev["hit_ratio"] == 0.95 and ev["blks_read"] == 500_000
    assert ev["shared_buffers"] == "16384" and ev["shared_buffers_bytes"] == 128 * 1024**2
    assert ev["stats_age_days"] == 30.5
    assert "95.00%" in found.detail and "128.0 MB" in found.detail and "50.0 GB" in found.detail


@pytest.mark.parametrize(
    ("hit", "read"),
    [(9_950_000, 50_000), (900, 100), (0, 0)],
    ids=["healthy", "little-traffic", "no-traffic"],
)
def test_low_cache_hit_ratio_is_silent(hit: int, read: int) -> None:
    assert run("low_cache_hit_ratio", cache_snap(hit, read)) == []


def test_cache_thresholds_are_configurable() -> None:
    assert len(run("low_cache_hit_ratio", cache_snap(900, 100), min_total_blocks=1000)) == 1
    assert run("low_cache_hit_ratio", cache_snap(9_500_000, 500_000), min_ratio=0.9) == []


def test_quoted_database_name_in_object() -> None:
    snap = f.snapshot(database=f.database(name="My App", blks_hit=10, blks_read=10**7))
    assert run("low_cache_hit_ratio", snap)[0].object == 'database "My App"'


# -- slow_query --


def stmt(
    queryid: str, calls: int, mean_ms: float, query: str | None = "", **kw: Any
) -> s.Statement:
    """A statement; `query=None` is text hidden from the auditing role."""
    text = f"SELECT * FROM t{queryid} WHERE id = $1" if query == "" else query
    base: dict[str, Any] = dict(
        queryid=queryid, user="app", query=text,
        calls=calls, total_exec_time_ms=calls * mean_ms, mean_exec_time_ms=mean_ms,
        max_exec_time_ms=mean_ms * 3, stddev_exec_time_ms=1.0, rows=calls, shared_blks_hit=10,
        shared_blks_read=2, temp_blks_written=0,
    )  # fmt: skip
    return s.Statement(**{**base, **kw})


def background() -> list[s.Statement]:
    """200 s of cheap lookups spread over 20 statements, 5% of the time each."""
    return [stmt(str(100 + n), calls=50_000, mean_ms=0.2) for n in range(20)]


def slow_snap(*statements: s.Statement) -> s.Snapshot:
    return f.snapshot(statements=[*background(), *statements])


def test_slow_mean_query_fires_with_evidence() -> None:
    [found] = run("slow_query", slow_snap(stmt("-8723", calls=20, mean_ms=250.0)))
    assert found.object == "app: query -8723" and found.severity is Severity.MEDIUM
    ev = found.evidence
    assert ev["queryid"] == "-8723" and ev["calls"] == 20 and ev["mean_ms"] == 250.0
    assert ev["total_ms"] == 5000.0 and ev["share"] == pytest.approx(5000 / 205_000, abs=1e-4)
    assert ev["rows_per_call"] == 1.0 and ev["query"] == "SELECT * FROM t-8723 WHERE id = $1"
    assert found.fix is None and "250.0 ms" in found.detail


def test_worst_queries_are_high() -> None:
    found = run("slow_query", slow_snap(stmt("2", calls=20, mean_ms=1500.0)))
    assert [x.severity for x in found] == [Severity.HIGH]
    # 1,000,000 cheap calls are 200 s: half of the workload is high on its own
    dominant = run("slow_query", slow_snap(stmt("1", 1_000_000, 0.2)))
    assert [(x.object, x.severity) for x in dominant] == [("app: query 1", Severity.HIGH)]


def test_share_of_total_time_fires_medium() -> None:
    heavy = stmt("3", calls=100_000, mean_ms=0.5)  # 50 s of 250 s: 20%
    [found] = run("slow_query", slow_snap(heavy), high_share=0.5)
    assert found.object == "app: query 3" and found.severity is Severity.MEDIUM
    assert found.evidence["share"] == 0.2 and "20% of all statement time" in found.detail


@pytest.mark.parametrize(
    "extra",
    [
        stmt("4", calls=5, mean_ms=900.0),  # too few calls to judge
        stmt("5", calls=100, mean_ms=50.0),  # fast enough and a small share
        stmt("6", calls=20, mean_ms=5000.0, query="VACUUM (ANALYZE) big"),
        stmt("7", calls=20, mean_ms=5000.0, query="/* migration */ CREATE INDEX i ON t (a)"),
        stmt("8", calls=20, mean_ms=5000.0, query="-- load\ncopy t from stdin"),
        stmt("9", calls=20, mean_ms=5000.0, query="COMMIT"),
    ],
    ids=["few-calls", "fast", "vacuum", "ddl", "copy", "commit"],
)
def test_slow_query_is_silent(extra: s.Statement) -> None:
    assert run("slow_query", slow_snap(extra)) == []


def test_no_pg_stat_statements_is_silent() -> None:
    assert run("slow_query", f.snapshot(statements=None)) == []
    assert run("slow_query", f.snapshot(statements=[])) == []


def test_rows_of_one_queryid_are_merged_across_roles() -> None:
    a = stmt("10", calls=6, mean_ms=200.0, rows=12_000)
    b = stmt("10", calls=6, mean_ms=200.0, user="report", query=None, rows=12_000)
    [found] = run("slow_query", slow_snap(a, b))
    assert found.evidence["calls"] == 12 and found.evidence["total_ms"] == 2400.0
    assert found.evidence["rows_per_call"] == 2000.0 and "paginating" in found.detail


def test_hidden_and_long_query_text() -> None:
    hidden = run("slow_query", slow_snap(stmt("11", 20, 300.0, query=None)))
    hidden_text = hidden[0].evidence["query"]
    assert hidden_text is not None and hidden_text.startswith("<hidden")
    long = "SELECT " + "x, " * 400 + "1"
    [found] = run("slow_query", slow_snap(stmt("12", 20, 300.0, query=long)), query_chars=100)
    assert found.evidence["query"] == long[:100] + "..."


def _io_snap(calls: int, blocks: int) -> s.Snapshot:
    scan = stmt("77", calls=calls, mean_ms=3.0, query="SELECT * FROM public.events WHERE x = $1",
                shared_blks_hit=calls * blocks, shared_blks_read=0)  # fmt: skip
    events = f.table("events", total_bytes=110 * 1024 * 1024)
    return f.snapshot(statements=[*background(), scan], tables=[events])


def test_a_cheap_looking_query_that_reads_a_whole_table_per_call_fires() -> None:
    [found] = run("slow_query", _io_snap(calls=60, blocks=14_000))
    assert found.severity is Severity.MEDIUM
    assert found.evidence["blocks_per_call"] == 14_000
    assert found.evidence["bytes_per_call"] == 14_000 * 8192
    assert found.evidence["tables_read"] == ["public.events (110.0 MB)"]
    assert "reads 14,000 blocks" in found.detail


@pytest.mark.parametrize(("calls", "blocks"), [(5, 14_000), (60, 4_000)])
def test_io_signal_needs_enough_calls_and_blocks(calls: int, blocks: int) -> None:
    assert run("slow_query", _io_snap(calls=calls, blocks=blocks)) == []
    [found] = run("slow_query", _io_snap(calls, blocks), min_blocks_per_call=1000, min_calls=5)
    assert found.evidence["blocks_per_call"] == blocks
