"""The demo's tenant-isolation step: attack, apply the reviewed RLS fixes, attack again.

`fix` leaves RLS changes for a person to review (enabling RLS changes what every role
sees). The demo plays that person for the fixes that close a proven leak, on the tables
rls-test names, and shows the matrix before and after in ISOLATION.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from prodready.report.plan import Report
from prodready.rls.model import RlsResult
from prodready.rls.pipeline import RlsOptions, attack_isolation
from prodready.rls.render import render_markdown

ISOLATION_FILE = "ISOLATION.md"
# checks whose reviewed fix closes a leak that rls-test proves on the same table
CLOSING_CHECKS = ("policy_without_rls", "rls_disabled")


@dataclass
class Isolation:
    before: RlsResult
    applied: list[str]
    after: RlsResult
    path: Path


def prove_isolation(dsn: str, report: Report, out_dir: Path) -> Isolation:
    """rls-test, the reviewed fixes for the leaking tables, rls-test again; ISOLATION.md."""
    before = attack_isolation(dsn, RlsOptions())
    leaking = {leak.table for leak in before.leaks}
    fixes = [
        f.fix.sql
        for f in report.findings
        if f.check in CLOSING_CHECKS and f.fix is not None and f.object in leaking
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in fixes:
            conn.execute(statement)
    after = attack_isolation(dsn, RlsOptions())
    path = out_dir / ISOLATION_FILE
    path.write_text(_document(before, fixes, after), encoding="utf-8")
    return Isolation(before, fixes, after, path)


def _document(before: RlsResult, fixes: list[str], after: RlsResult) -> str:
    applied = "\n".join(f"    {sql};" for sql in fixes) or "    (none needed)"
    return (
        "# Tenant isolation, before and after the reviewed fixes\n\n"
        "`prodready rls-test` on the demo database; every attempt rolled back.\n\n"
        + render_markdown(before).replace("# Tenant isolation", "## Before", 1)
        + f"\n## The reviewed fixes applied\n\n{applied}\n\n"
        + render_markdown(after).replace("# Tenant isolation", "## After", 1)
    )


def summary_line(isolation: Isolation) -> str:
    b, a = isolation.before, isolation.after
    return (
        f"Tenant isolation (rls-test): {len(b.leaks)} leak(s) across "
        f"{len({x.table for x in b.leaks})} table(s) before, {len(a.leaks)} after "
        f"{len(isolation.applied)} reviewed fix(es); {a.attempts} attempts, "
        f"rows changed {b.rows_changed + a.rows_changed}."
    )
