"""Audit time and peak memory by catalog size (goal: 10k tables, 30k indexes: <= 6 s warm,
<= 10 s cold, 500 MB).

Builds one database in a throwaway local cluster, growing it to each size in turn, so
pg_stat_statements (max 10,000) fills with the build's DDL, which the advisor must sift;
`--lookups N` also runs one lookup on each of the first N tables, giving it a workload to
plan (what-if planning then dominates: that is the advisor's cost, not the catalog's).
At each size it runs `prodready audit --out DIR` (collect + checks + index advice + every
report format) in a child process and reads the child's wall time and peak RSS from
wait4(): the first run right after the build is "cold" (the server's catalog caches are
empty), the best of the others "warm". A second, in-process run splits the time into
collect / checks / render.

    .venv/bin/python bench/catalog_scale.py [--sizes 1000,3000,10000] [--repeat 3] [--lookups N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from prodready.db.collect import collect
from prodready.pg.cluster import LocalCluster
from prodready.registry import run_checks
from prodready.report import FILE_FORMATS, render
from prodready.report.plan import build_report

RESULTS = Path(__file__).parent / "results" / "catalog_scale.json"
BATCH = 250


def grow(dsn: str, start: int, stop: int) -> None:
    """Tables start..stop-1: a PK, a FK to the previous table, two more indexes, 8 columns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for first in range(start, stop, BATCH):
            statements = []
            for i in range(first, min(first + BATCH, stop)):
                parent = f"REFERENCES app_{i - 1} (id)" if i > 0 else ""
                statements.append(
                    f"CREATE TABLE app_{i} (id bigserial PRIMARY KEY, parent_id bigint {parent},"
                    " name text NOT NULL, email text, status text DEFAULT 'new',"
                    " amount numeric(12,2), created_at timestamptz DEFAULT now(), data jsonb);"
                    f"CREATE INDEX app_{i}_created_idx ON app_{i} (created_at);"
                    f"CREATE INDEX app_{i}_status_idx ON app_{i} (status, created_at);"
                )
            with conn.transaction():
                conn.execute("".join(statements))
        conn.execute("ANALYZE")


def query_tables(dsn: str, stop: int, limit: int) -> None:
    """One parameterised lookup per table, so pg_stat_statements has a real workload too."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(min(stop, limit)):
            conn.execute(f"SELECT id, name FROM app_{i} WHERE status = %s LIMIT 10", ("new",))


def audit_in_child(dsn: str, out_dir: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `prodready audit --out` in a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "prodready", "audit", "--db", dsn, "--out", str(out_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):
        raise SystemExit(f"audit failed: {child.stderr.read().decode() if child.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def stages(dsn: str) -> dict[str, float]:
    t0 = time.perf_counter()
    snap = collect(dsn)
    t1 = time.perf_counter()
    run = run_checks(snap)
    t2 = time.perf_counter()
    report = build_report(snap, run)
    for fmt in FILE_FORMATS:
        render(report, fmt)
    t3 = time.perf_counter()
    return {
        "collect_s": round(t1 - t0, 2),
        "checks_s": round(t2 - t1, 2),
        "render_s": round(t3 - t2, 2),
        "tables": len(snap.tables),
        "indexes": len(snap.indexes),
        "columns": len(snap.columns),
        "findings": len(run.findings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    settings = {"max_locks_per_transaction": "1024", "pg_stat_statements.max": "10000"}
    with LocalCluster(settings=settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE scale")
        dsn = cluster.dsn("scale")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        built = 0
        for size in sizes:
            started = time.perf_counter()
            grow(dsn, built, size)
            query_tables(dsn, size, args.lookups)
            built = size
            print(f"built {size} tables in {time.perf_counter() - started:.0f} s", flush=True)
            with tempfile.TemporaryDirectory() as out:
                runs = [audit_in_child(dsn, Path(out)) for _ in range(args.repeat + 1)]
            cold, warm = runs[0][0], min(r[0] for r in runs[1:])
            peak = max(r[1] for r in runs)
            with psycopg.connect(dsn, autocommit=True) as conn:
                entries = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
            row = {"tables": size, "audit_s_best": round(warm, 2), "audit_s_cold": round(cold, 2),
                   "peak_rss_mb": round(peak), "pgss_entries": entries[0] if entries else 0,
                   **stages(dsn)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\n{'tables':>7} {'indexes':>8} {'warm s':>7} {'cold s':>7} {'RSS MB':>7} "
          f"{'collect':>8} {'checks':>7} {'render':>7} {'findings':>8}")  # fmt: skip
    for r in rows:
        print(
            f"{r['tables']:>7} {r['indexes']:>8} {r['audit_s_best']:>7} {r['audit_s_cold']:>7} "
            f"{r['peak_rss_mb']:>7} {r['collect_s']:>8} {r['checks_s']:>7} {r['render_s']:>7} "
            f"{r['findings']:>8}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine_cores": os.cpu_count(), "rows": rows}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
