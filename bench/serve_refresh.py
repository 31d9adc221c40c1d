"""Dashboard refresh cost on a database with 10,000 tables: queries, ms per refresh, page weight.

    .venv/bin/python -m bench.serve_refresh [--tables 10000] [--refreshes 30]

Builds the tables the way bench/catalog_scale.py does (PK, FK, two more indexes, 8 columns
each), gives pg_stat_statements a few hundred distinct statements, then times the
dashboard's own sampling (`Monitor.sample`, the one monitoring connection): every refresh
(fast sections) and the once-a-minute slow sections (sizes, vacuum). Database time is the
wall time of each query as the client sees it (network round trip included). Page weight
is the size of `/`, `/fragment` and `/metrics` served by a running Dashboard. The startup
audit (for the readiness score; every 15 min) is timed separately. Results go to
bench/results/serve_refresh.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path

import psycopg

from bench.catalog_scale import grow
from prodready.pg.cluster import LocalCluster
from prodready.serve import Dashboard, ServeOptions
from prodready.serve.collect import Monitor

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=10_000)
    parser.add_argument("--refreshes", type=int, default=30)
    args = parser.parse_args(argv)
    with LocalCluster(settings={"max_locks_per_transaction": "1024"}) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE scale")
        dsn = cluster.dsn("scale")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        started = time.perf_counter()
        grow(dsn, 0, args.tables)
        build_s = time.perf_counter() - started
        statements = exercise(dsn, min(args.tables, 500))
        fast, slow = sample_costs(dsn, args.refreshes)
        weight, audit_s = page_weight(dsn)
    summary = {
        "tables": args.tables,
        "build_s": round(build_s, 1),
        "pg_stat_statements_entries": statements,
        "fast_refresh": fast,
        "slow_refresh": slow,
        "page_bytes": weight,
        "startup_audit_s": audit_s,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serve_refresh.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "serve_refresh.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def exercise(dsn: str, tables: int) -> int:
    """Distinct statements so the pg_stat_statements read has real work."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(tables):
            conn.execute(f"SELECT count(*) FROM app_{i} WHERE status = 'new'")
            conn.execute(f"SELECT * FROM app_{i} WHERE id = 1")
        row = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
    return int(row[0]) if row else 0


def sample_costs(dsn: str, refreshes: int) -> tuple[dict[str, float], dict[str, float]]:
    monitor = Monitor(dsn)
    monitor.sample(slow=True)  # connect and warm the catalog caches, as a running server is
    fast_ms, slow_ms, queries = [], [], 0
    for _ in range(refreshes):
        sample = monitor.sample(slow=False)
        assert sample.up, sample.error
        fast_ms.append(sample.db_time_ms)
        queries = sample.queries
    slow_queries = 0
    for _ in range(5):
        sample = monitor.sample(slow=True)
        slow_ms.append(sample.db_time_ms)
        slow_queries = sample.queries
    monitor.close()
    return _stats(fast_ms, queries), _stats(slow_ms, slow_queries)


def _stats(values: list[float], queries: int) -> dict[str, float]:
    return {
        "queries": queries,
        "median_ms": round(statistics.median(values), 1),
        "max_ms": round(max(values), 1),
        "samples": len(values),
    }


def page_weight(dsn: str) -> tuple[dict[str, int], float]:
    started = time.perf_counter()
    dashboard = Dashboard(ServeOptions(dsn=dsn, port=0, refresh_s=1.0)).start()
    try:
        while dashboard.history.readiness is None:
            time.sleep(0.2)
        audit_s = round(time.perf_counter() - started, 1)
        time.sleep(2.5)  # two refreshes, so statement deltas and charts have data
        weight = {}
        for path in ("", "fragment", "metrics"):
            with urllib.request.urlopen(dashboard.url + path, timeout=30) as response:
                weight["/" + path] = len(response.read())
    finally:
        dashboard.stop()
    return weight, audit_s


def markdown(s: dict) -> str:  # type: ignore[type-arg]
    fast, slow = s["fast_refresh"], s["slow_refresh"]
    return "\n".join(
        [
            f"# Dashboard refresh cost with {s['tables']:,} tables",
            "",
            "Command: `.venv/bin/python -m bench.serve_refresh` (2-core machine, local cluster; "
            f"{s['pg_stat_statements_entries']} pg_stat_statements entries).",
            "",
            "| refresh | queries | median ms | max ms | samples |",
            "|---|---|---|---|---|",
            f"| every refresh (default 5 s) | {fast['queries']} | {fast['median_ms']} | "
            f"{fast['max_ms']} | {fast['samples']} |",
            f"| with the once-a-minute sections (sizes, vacuum) | {slow['queries']} | "
            f"{slow['median_ms']} | {slow['max_ms']} | {slow['samples']} |",
            "",
            "Page weight (bytes, no external assets): "
            + ", ".join(f"`{k}` {v:,}" for k, v in s["page_bytes"].items()),
            "",
            f"The readiness audit at startup (then every 15 min, on the same connection) took "
            f"{s['startup_audit_s']} s.",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
