"""What the policies cost: each workload SELECT on an RLS table, timed as a real tenant and
again as the auditing role (which RLS does not filter), in rolled-back transactions.

With `measure_fixes` (for staging: ALTER POLICY and CREATE INDEX take locks until the
rollback) the audit's `rls_initplan` rewrites and `policy_tenant_column_unindexed` indexes
are applied inside the same kind of transaction and the statements timed again, so `fix`
can be trusted with a measured before/after.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from prodready.advisor.model import BoundQuery
from prodready.db.snapshot import Snapshot
from prodready.model import Finding
from prodready.rls.discover import Plan
from prodready.rls.model import Identity

RUNS = 3
FIX_CHECKS = ("rls_initplan", "policy_tenant_column_unindexed")


@dataclass(frozen=True)
class PolicyCost:
    """One statement with and without the policies, and with the fixes when measured."""

    query: str
    role: str
    calls: float
    with_rls_ms: float
    without_rls_ms: float
    with_fixes_ms: float | None = None

    @property
    def policy_share(self) -> float:
        """The share of the statement's time the policies add (0 when they add nothing)."""
        if self.with_rls_ms <= 0:
            return 0.0
        return max(0.0, 1.0 - self.without_rls_ms / self.with_rls_ms)

    def to_json(self) -> dict[str, Any]:
        speedup = (
            round(self.with_rls_ms / self.with_fixes_ms, 2)
            if self.with_fixes_ms else None
        )  # fmt: skip
        return {
            "query": self.query, "role": self.role, "calls": self.calls,
            "with_rls_ms": self.with_rls_ms, "without_rls_ms": self.without_rls_ms,
            "policy_share": round(self.policy_share, 3), "with_fixes_ms": self.with_fixes_ms,
            "fix_speedup": speedup,
        }  # fmt: skip


@dataclass
class PolicyCosts:
    statements: list[PolicyCost] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # the fix SQL measured, when any
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "statements": [s.to_json() for s in self.statements],
            "fixes_measured": self.fixes,
            "skipped": self.skipped,
        }


def measure(
    conn: psycopg.Connection,
    snap: Snapshot,
    plan: Plan,
    bound: list[BoundQuery],
    findings: list[Finding],
    *,
    measure_fixes: bool = False,
    timeout_ms: int = 5000,
) -> PolicyCosts:
    """Time each literal SELECT over an RLS table as the app and as the auditing role."""
    rls_tables = {t.name for t in snap.tables if t.rls_enabled}
    fixes = (
        [f.fix.sql for f in findings if f.check in FIX_CHECKS and f.fix] if measure_fixes else []
    )
    costs = PolicyCosts(fixes=fixes)
    tenant = plan.tenant_a
    for query in bound:
        text = query.sql
        if query.method == "generic" or not text.lstrip().lower().startswith(("select", "with")):
            costs.skipped.append(f"{text[:80]}: not a literal read")
            continue
        if not any(name in text for name in rls_tables):
            continue
        role = query.query.role if query.query.role in plan.roles else _first_app_role(plan)
        if role is None:
            costs.skipped.append(f"{text[:80]}: no app role to run it as")
            continue
        subject = None if role == "anon" else tenant
        try:
            with_rls = _time(conn, text, plan.identity, role, subject, timeout_ms)
            without = _time(conn, text, plan.identity, None, None, timeout_ms)
            fixed = (
                _time(conn, text, plan.identity, role, subject, timeout_ms, fixes)
                if fixes else None
            )  # fmt: skip
        except psycopg.Error as exc:
            costs.skipped.append(f"{text[:80]}: {str(exc).splitlines()[0]}")
            continue
        costs.statements.append(PolicyCost(text, role, query.query.calls, with_rls, without, fixed))
    costs.statements.sort(key=lambda c: -(c.with_rls_ms - c.without_rls_ms) * c.calls)
    return costs


def _first_app_role(plan: Plan) -> str | None:
    named = [r for r in plan.roles if r != "anon"]
    return named[0] if named else (plan.roles[0] if plan.roles else None)


def _time(
    conn: psycopg.Connection,
    text: str,
    identity: Identity,
    role: str | None,
    subject: str | None,
    timeout_ms: int,
    fixes: list[str] | None = None,
) -> float:
    """Median execution time (EXPLAIN ANALYZE, TIMING OFF) in a rolled-back transaction."""
    runs = []
    for _ in range(RUNS):
        with conn.transaction(force_rollback=True):
            conn.execute(
                sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms))
            )
            for fix in fixes or []:
                conn.execute(fix.replace("CONCURRENTLY ", ""))  # inside a transaction
            if role is not None:
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                for name, value in identity.settings_for(subject, role):
                    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            row = conn.execute(
                sql.SQL("EXPLAIN /* prodready */ (ANALYZE, TIMING OFF, FORMAT JSON) {}").format(
                    sql.SQL(text)
                )
            ).fetchone()
        plan = row[0] if row else None
        if isinstance(plan, str):
            plan = json.loads(plan)
        runs.append(float(plan[0]["Execution Time"]) if plan else 0.0)
    return round(statistics.median(runs), 3)
