"""The demo's fix loop at full scale: score before/after, measured speedup, exact rollback.

    .venv/bin/python -m bench.demo_loop [--scale 1.0]

Runs `prodready demo` (audit → fix → lint → verify --save → apply → verify → re-audit) on
its throwaway cluster, then checks the issue's round trip: `rollback --to 0` must return
the schema to exactly the original. The original is a database created from the demo's
schema alone (the load and the API traffic change data, not schema); both are compared with
`pg_dump --schema-only` (the journal schema `prodready` excluded: it is the record of
what was done). Then the migrations are applied again and rolled back again, which must
give the same dump. Results go to bench/results/demo_loop.{json,md}.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console

from prodready.demo.data import load_schema
from prodready.demo.loop import MIGRATIONS_DIR
from prodready.demo.pipeline import AUDIT_ROLE, create_audit_role, run_demo
from prodready.migrate.apply import apply_migrations, rollback_migrations
from prodready.pg.dump import schema_dump

RESULTS = Path(__file__).parent / "results"
PRISTINE = "marketplace_pristine"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prodready-demo-loop-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        result = run_demo(out, True, Console(file=io.StringIO()), scale=args.scale)
        elapsed = time.perf_counter() - started
        try:
            record = _round_trip(result.dsn, out / MIGRATIONS_DIR)
        finally:
            _stop(result.stop_command)
    loop = result.loop
    assert loop is not None
    comparison = loop.comparison
    summary = {
        "scale": args.scale,
        "demo_seconds": round(elapsed, 1),
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "score_before": loop.before.score.overall,
        "score_after": loop.after.score.overall,
        "findings_before": len(loop.before.findings),
        "findings_after": len(loop.after.findings),
        "migrations": [m.name for m in loop.plan.migrations],
        "left_for_review": len(loop.plan.skipped),
        "lint": {"errors": loop.lint.errors, "warnings": loop.lint.warnings},
        "weighted_before_ms": round(comparison.weighted_before_ms, 1),
        "weighted_after_ms": round(comparison.weighted_after_ms, 1),
        "speedup": round(comparison.speedup or 0.0, 2),
        "statements": [
            {
                "query": row.statement.label,
                "role": row.statement.role,
                "calls": row.statement.calls,
                "before_p50_ms": row.before.p50_ms if row.before else None,
                "after_p50_ms": row.after.p50_ms if row.after else None,
                "weighted_after_ms": round(row.statement.calls * row.after.mean_ms, 1)
                if row.after
                else None,
                "speedup": round(row.speedup, 2) if row.speedup else None,
                "indexes_added": row.indexes_added,
            }
            for row in comparison.statements
        ],
        **record,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_loop.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "demo_loop.md").write_text(_markdown(summary))
    print(_markdown(summary))
    return 0 if record["rollback_identical"] and record["reapply_identical"] else 1


def _round_trip(dsn: str, migrations: Path) -> dict[str, object]:
    applied_dump = schema_dump(dsn)
    started = time.perf_counter()
    rollback_migrations(dsn, migrations, 0)
    rollback_s = time.perf_counter() - started
    rolled_back = schema_dump(dsn)
    pristine = schema_dump(_pristine(dsn))
    started = time.perf_counter()
    apply_migrations(dsn, migrations)
    reapply_s = time.perf_counter() - started
    reapplied = schema_dump(dsn)
    rollback_migrations(dsn, migrations, 0)
    again = schema_dump(dsn)
    diff = list(difflib.unified_diff(pristine.splitlines(), rolled_back.splitlines(), lineterm=""))
    return {
        "rollback_seconds": round(rollback_s, 2),
        "reapply_seconds": round(reapply_s, 2),
        "rollback_identical": rolled_back == pristine and again == pristine,
        "reapply_identical": reapplied == applied_dump,
        "applied_differs_from_original": applied_dump != pristine,
        "rollback_diff": diff[:40],
    }


def _pristine(dsn: str) -> str:
    """A database with the demo's schema and nothing else: the original to compare with."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PRISTINE)))
    target = psycopg.conninfo.make_conninfo(dsn, dbname=PRISTINE)
    with psycopg.connect(target, autocommit=True) as conn:
        load_schema(conn)
        # the demo's audit role and its grants are part of the original schema too
        create_audit_role(conn, AUDIT_ROLE, secrets.token_urlsafe(18))
    return target


def _stop(command: str | None) -> None:
    if command:
        subprocess.run(command, shell=True, check=False, capture_output=True, timeout=120)


def _markdown(s: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"# Demo fix loop (scale {s['scale']}, `python -m bench.demo_loop`)",
        "",
        f"- demo end to end: {s['demo_seconds']} s; steps: "
        + ", ".join(f"{k} {v}" for k, v in s["timings_s"].items()),
        f"- readiness score {s['score_before']} → {s['score_after']} "
        f"({s['findings_before']} → {s['findings_after']} findings)",
        f"- {len(s['migrations'])} migrations applied, {s['left_for_review']} changes left for "
        f"review; lint {s['lint']['errors']} errors, {s['lint']['warnings']} warnings",
        f"- weighted workload (server time, calls x mean): {s['weighted_before_ms']:,} ms → "
        f"{s['weighted_after_ms']:,} ms per minute of traffic: **{s['speedup']}x**",
        f"- `rollback --to 0` → schema identical to the original (pg_dump --schema-only): "
        f"**{s['rollback_identical']}** ({s['rollback_seconds']} s); re-apply identical to the "
        f"first apply: **{s['reapply_identical']}** ({s['reapply_seconds']} s)",
        "",
        "| query | role | calls/min | before p50 ms | after p50 ms | speedup | weighted after ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in sorted(s["statements"], key=lambda r: -(r["weighted_after_ms"] or 0)):
        lines.append(
            f"| {row['query']} | {row['role'] or 'backend'} | {row['calls']:g} | "
            f"{row['before_p50_ms'] or '-'} | {row['after_p50_ms'] or '-'} | "
            f"{row['speedup'] or '-'} | {row['weighted_after_ms'] or '-'} |"
        )
    if s["rollback_diff"]:
        lines += ["", "Rollback diff (first lines):", "", "```", *s["rollback_diff"], "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
