"""Backup + verified restore drill of the demo database: dump time, size, RTO.

    .venv/bin/python -m bench.backup_drill [--scale 1.0]

Builds the demo's marketplace database (schema + generated rows, as `prodready demo` does)
in a throwaway cluster, then for the custom format (1 job) and the directory format
(2 jobs): `take_backup` (pg_dump in the counts' snapshot, manifest with sha256 of every
file) and `verify_dump` (checksums, restore into a fresh scratch database on the same
cluster, schema/row-count/smoke comparison). Results go to bench/results/backup_drill.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from prodready.backup import take_backup, verify_dump
from prodready.demo.data import load_data, load_schema
from prodready.pg.cluster import LocalCluster
from prodready.units import human_bytes

RESULTS = Path(__file__).parent / "results"
DATABASE = "marketplace"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    cluster = LocalCluster().start()
    try:
        rows, db_bytes = build(cluster, args.scale)
        runs = []
        with tempfile.TemporaryDirectory(prefix="prodready-backup-bench-") as tmp:
            for jobs in (1, 2):
                runs.append(drill(cluster, Path(tmp) / f"jobs{jobs}", jobs))
    finally:
        cluster.stop()
    summary = {"scale": args.scale, "rows": rows, "database_bytes": db_bytes, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backup_drill.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "backup_drill.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0 if all(r["drill_ok"] for r in runs) else 1


def build(cluster: LocalCluster, scale: float) -> tuple[int, int]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(cluster.dsn(DATABASE), autocommit=True) as conn:
        load_schema(conn)
        load_data(conn, scale)
        conn.execute("ANALYZE")
        rows = conn.execute("SELECT sum(n_live_tup)::bigint FROM pg_stat_user_tables").fetchone()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(rows[0] if rows else 0), int(size[0] if size else 0)


def drill(cluster: LocalCluster, directory: Path, jobs: int) -> dict[str, object]:
    started = time.perf_counter()
    backup = take_backup(cluster.dsn(DATABASE), directory, jobs=jobs)
    backup_s = time.perf_counter() - started
    started = time.perf_counter()
    record = verify_dump(backup.dump, cluster.dsn(), jobs=jobs)
    drill_s = time.perf_counter() - started
    return {
        "format": backup.manifest.format,
        "jobs": jobs,
        "backup_s": round(backup_s, 2),
        "pg_dump_s": backup.manifest.duration_s,
        "dump_bytes": backup.manifest.total_bytes,
        "files": len(backup.manifest.files),
        "tables": len(backup.manifest.tables),
        "drill_ok": record.ok,
        "rto_s": record.rto_s,
        "drill_total_s": round(drill_s, 2),
        "steps": [f"{s.name}: {'ok' if s.ok else 'FAIL'} ({s.detail})" for s in record.steps],
    }


def markdown(summary: dict) -> str:  # type: ignore[type-arg]
    lines = [
        "# Backup + restore drill of the demo database",
        "",
        f"Scale {summary['scale']}: {summary['rows']:,} rows, database "
        f"{human_bytes(summary['database_bytes'])}. Command: "
        "`.venv/bin/python -m bench.backup_drill`.",
        "",
        "| format | jobs | backup s (pg_dump s) | dump size | drill | RTO (restore) s "
        "| drill total s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["runs"]:
        lines.append(
            f"| {r['format']} | {r['jobs']} | {r['backup_s']} ({r['pg_dump_s']}) | "
            f"{human_bytes(r['dump_bytes'])} | {'passed' if r['drill_ok'] else 'FAILED'} | "
            f"{r['rto_s']} | {r['drill_total_s']} |"
        )
    lines += ["", "Drill steps (custom format):", ""]
    lines += [f"- {step}" for step in summary["runs"][0]["steps"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
