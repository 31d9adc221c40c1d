"""The audit on real public production schemas: findings by check, audit time, per schema.

Each schema of bench/corpus/manifest.toml is loaded into a fresh database of a throwaway
local cluster (127.0.0.1) with psql, exactly as its project ships it (a Rails
structure.sql, or Supabase migrations after a small stand-in for Supabase's roles and
auth schema), analysed, and audited in process (collect + checks + plan). The schema
files are read from clones the user provides; none is copied into this repository.

    .venv/bin/python bench/schema_corpus.py --sources DIR      # DIR/<name>/<path>
    .venv/bin/python bench/schema_corpus.py --mirror DIR       # DIR/<owner>+<name>/repo (git)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from prodready.db.collect import collect
from prodready.pg.cluster import LocalCluster
from prodready.registry import run_checks
from prodready.report.markdown import render as render_markdown
from prodready.report.plan import build_report

HERE = Path(__file__).parent
MANIFEST = HERE / "corpus" / "manifest.toml"
RESULTS = HERE / "results" / "schema_corpus.json"
SUMMARY = HERE / "results" / "schema_corpus.md"

# What a self-hosted Supabase gives migrations before they run: the API roles, the auth
# schema with its users table and helpers, and extensions in their own schema.
SUPABASE_STAND_IN = """
DO $$ BEGIN
  CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN;
  CREATE ROLE service_role NOLOGIN BYPASSRLS; CREATE ROLE authenticator LOGIN NOINHERIT;
  CREATE ROLE supabase_admin LOGIN SUPERUSER;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT anon, authenticated, service_role TO authenticator;
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA extensions;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.users (
  id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(), email text,
  raw_user_meta_data jsonb, raw_app_meta_data jsonb, created_at timestamptz DEFAULT now());
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claim.role', true), '')::text $$;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
GRANT USAGE ON SCHEMA public, auth, extensions TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
CREATE PUBLICATION supabase_realtime;
"""


def source_text(entry: dict[str, Any], sources: Path | None, mirror: Path | None) -> str:
    """The schema's SQL files, concatenated in the manifest's order."""
    parts = []
    for path in entry["paths"]:
        if sources is not None:
            parts.append((sources / entry["name"] / path).read_text(encoding="utf-8"))
            continue
        assert mirror is not None
        git_dir = mirror / entry["repo"].replace("/", "+") / "repo"
        shown = subprocess.run(
            ["git", "-C", str(git_dir), "show", f"{entry['commit']}:{path}"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        parts.append(shown.stdout)
    return "\n;\n".join(parts)


def load(cluster: LocalCluster, dbname: str, sql_text: str) -> list[str]:
    """Run the SQL with psql as the project would; return psql's errors (if any)."""
    done = subprocess.run(
        [str(cluster.bindir / "psql"), cluster.url(dbname), "-X", "-q", "-v", "ON_ERROR_STOP=0"],
        input=sql_text, capture_output=True, text=True,
    )  # fmt: skip
    return [line for line in done.stderr.splitlines() if "ERROR" in line]


def audit_one(cluster: LocalCluster, entry: dict[str, Any], text: str) -> dict[str, Any]:
    name = f"corpus_{entry['name'].replace('-', '_')}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    errors = []
    if entry["stack"] == "supabase":  # Supabase puts extensions on every session's path
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET search_path = "$user", public, extensions')
        errors = load(cluster, name, SUPABASE_STAND_IN)
    errors += load(cluster, name, text)
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        conn.execute("ANALYZE")
    started = time.perf_counter()
    snap = collect(cluster.dsn(name))
    run = run_checks(snap)
    report = build_report(snap, run)
    elapsed = time.perf_counter() - started
    plan = render_markdown(report)
    by_check = Counter(f.check for f in run.findings)
    by_severity = Counter(f.severity.label for f in run.findings)
    return {
        "name": entry["name"],
        "about": entry["about"],
        "repo": entry["repo"],
        "commit": entry["commit"],
        "licence": entry["licence"],
        "tables": len([t for t in snap.tables if t.kind in ("r", "p")]),
        "indexes": len(snap.indexes),
        "load_errors": errors[:10],
        "audit_s": round(elapsed, 2),
        "score": report.score.overall,
        "findings": len(run.findings),
        "deferred": sum(len(d.findings) for d in report.deferred),
        "by_severity": dict(by_severity),
        "by_check": dict(sorted(by_check.items())),
        "check_failures": run.failures,
        "plan_lines": plan.count("\n"),
        "findings_detail": [
            {"check": f.check, "severity": f.severity.label, "object": f.object}
            for f in run.findings
            if f.deferred is None
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sources", type=Path, help="DIR/<name>/<path> for every schema")
    where.add_argument("--mirror", type=Path, help="DIR/<owner>+<name>/repo git directories")
    parser.add_argument("--only", help="comma-separated schema names")
    args = parser.parse_args()
    entries = tomllib.loads(MANIFEST.read_text())["schema"]
    if args.only:
        entries = [e for e in entries if e["name"] in args.only.split(",")]
    rows = []
    with LocalCluster() as cluster:
        for entry in entries:
            row = audit_one(cluster, entry, source_text(entry, args.sources, args.mirror))
            rows.append(row)
            print(f"{row['name']:<24} {row['tables']:>5} tables {row['findings']:>5} findings "
                  f"({row['deferred']} deferred) {row['audit_s']:>5} s  plan {row['plan_lines']} "
                  f"lines  load errors {len(row['load_errors'])}", flush=True)  # fmt: skip
    RESULTS.write_text(json.dumps({"schemas": rows}, indent=2) + "\n")
    SUMMARY.write_text(summary(rows))
    print(f"wrote {RESULTS} and {SUMMARY}")


def summary(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# The audit on public production schemas (`bench/schema_corpus.py`)",
        "",
        "| schema | what | licence | tables | indexes | findings | deferred | score | "
        "audit s | PLAN.md lines |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['about']} | {r['licence']} | {r['tables']} | {r['indexes']} | "
            f"{r['findings']} | {r['deferred']} | {r['score']} | {r['audit_s']} | "
            f"{r['plan_lines']} |"
        )
    lines += ["", "## Findings by check", ""]
    checks = sorted({c for r in rows for c in r["by_check"]})
    lines.append("| check | " + " | ".join(r["name"] for r in rows) + " |")
    lines.append("|---|" + "---:|" * len(rows))
    for check in checks:
        counts = " | ".join(str(r["by_check"].get(check, "")) for r in rows)
        lines.append(f"| `{check}` | {counts} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
