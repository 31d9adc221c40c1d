"""Workload checks against a real database: buffer cache hit ratio and slow statements."""

from __future__ import annotations

from prodready.config import Config
from prodready.db.snapshot import quote_ident
from prodready.model import Finding, Severity
from tests.conftest import TestDatabase


def run(db: TestDatabase, check: str, **options: object) -> list[Finding]:
    config = Config(options={check: dict(options)}) if options else None
    return db.findings(check, config=config)


# -- low_cache_hit_ratio --


def test_cache_misses_fire_once_there_is_enough_traffic(fresh_db: TestDatabase) -> None:
    # CREATE TABLE AS writes through a small ring buffer, so most of the table leaves
    # shared_buffers at once and the scan that follows has to read it back
    fresh_db.execute(
        "CREATE TABLE cache_t AS SELECT g AS id, repeat('x', 200) AS pad "
        "FROM generate_series(1, 120000) g"
    )
    fresh_db.execute("SELECT count(*) FROM cache_t")
    snap = fresh_db.snapshot()
    assert snap.database.blks_read > 0
    # the default needs a million block accesses: a fresh database is too quiet to judge
    assert fresh_db.findings("low_cache_hit_ratio", snap) == []
    config = Config(options={"low_cache_hit_ratio": {"min_ratio": 1.0, "min_total_blocks": 1000}})
    [finding] = fresh_db.findings("low_cache_hit_ratio", snap, config)
    assert finding.object == f"database {quote_ident(fresh_db.name)}"
    db = snap.database
    assert finding.evidence["blks_read"] == db.blks_read
    assert finding.evidence["hit_ratio"] == round(db.blks_hit / (db.blks_hit + db.blks_read), 4)
    assert finding.evidence["shared_buffers"] == "32768"  # 256MB in 8kB pages
    assert finding.evidence["shared_buffers_bytes"] == 256 * 1024 * 1024


# -- slow_query --


def test_slow_statement_fires_with_its_numbers(fresh_db: TestDatabase) -> None:
    for _ in range(4):
        fresh_db.execute("SELECT pg_sleep(0.06)")
    for n in range(50):
        fresh_db.execute("SELECT %s::int + 1", (n,))
    [finding] = run(fresh_db, "slow_query", min_mean_ms=50.0, min_calls=3)
    ev = finding.evidence
    assert finding.object == f"{quote_ident(fresh_db.name)}: query {ev['queryid']}"
    assert finding.severity is Severity.MEDIUM
    assert "pg_sleep" in ev["query"] and ev["calls"] == 4
    assert 55 <= ev["mean_ms"] < 1000 and ev["total_ms"] >= 4 * 55
    assert ev["rows_per_call"] == 1.0 and ev["share"] > 0.5
    # under the defaults four calls are too few to judge by mean, and 0.24 s too little time
    assert run(fresh_db, "slow_query") == []


def test_dominant_statement_fires_by_share(fresh_db: TestDatabase) -> None:
    for _ in range(3):
        fresh_db.execute("SELECT count(*) FROM generate_series(1, 300000)")
    # DDL is not a tuning target, however long it takes
    fresh_db.execute("CREATE TABLE ddl_t AS SELECT 1 AS one FROM pg_sleep(0.3)")
    [finding] = run(fresh_db, "slow_query", min_total_ms=20.0, high_share=0.5)
    assert "generate_series" in finding.evidence["query"]
    assert finding.evidence["calls"] == 3 and finding.evidence["share"] > 0.5
    assert finding.severity is Severity.HIGH


def test_fast_statements_are_silent(fresh_db: TestDatabase) -> None:
    for n in range(30):
        fresh_db.execute("SELECT %s::int * 2", (n,))
    assert run(fresh_db, "slow_query") == []


def test_a_fast_scan_that_reads_many_blocks_per_call_fires(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        "CREATE TABLE io_events AS SELECT g AS id, g % 97 AS kind, repeat('x', 100) AS pad "
        "FROM generate_series(1, 60000) g; ANALYZE io_events"
    )
    for n in range(12):  # a cached sequential scan: milliseconds, ~1,000 blocks each
        fresh_db.execute("SELECT count(*) FROM io_events WHERE kind = %s", (n,))
    assert run(fresh_db, "slow_query") == []  # under 5,000 blocks a call by default
    [finding] = run(fresh_db, "slow_query", min_blocks_per_call=500)
    ev = finding.evidence
    assert "io_events" in ev["query"] and ev["calls"] == 12
    assert ev["blocks_per_call"] >= 500 and ev["mean_ms"] < 100
    assert ev["tables_read"][0].startswith("public.io_events (")
