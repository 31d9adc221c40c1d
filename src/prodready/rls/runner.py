"""Run every probe as every app role, each in a transaction that is rolled back.

Before and after, every attacked table's rows are counted as the auditing role: the run
reports how many rows changed, which must be zero. Each probe sets its role and identity
with SET LOCAL / set_config(..., true), so nothing outlives its transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import psycopg
from psycopg import sql

from prodready.errors import TargetError
from prodready.rls.attacks import Probe, probes
from prodready.rls.discover import Plan
from prodready.rls.model import Attempt, Identity, Outcome, RlsResult
from prodready.rls.verdict import cells, leaks
from prodready.sqlgen import render

Progress = Callable[[str], None]


def run(
    conn: psycopg.Connection,
    plan: Plan,
    *,
    timeout_ms: int = 2000,
    progress: Progress | None = None,
) -> RlsResult:
    """Attack every tenant table as every role; the connection must be in autocommit mode."""
    started = time.perf_counter()
    for role in plan.roles:
        _require_role(conn, role)
    before = _counts(conn, plan)
    attempts: list[Attempt] = []
    if plan.tenant_a is not None and plan.tenant_b is not None:
        for table in plan.tables:
            if table.tenant_a is None:
                continue
            if progress:
                progress(table.qualified)
            for probe in probes(table):
                for role in plan.roles:
                    subject = None if role == "anon" else table.tenant_a
                    attempts.append(
                        _attempt(
                            conn, plan.identity, role, subject, table.qualified, probe, timeout_ms
                        )
                    )
                    if probe.kind == "read_other" and subject is not None and table.metadata:
                        # the user edits their own user_metadata to what a policy trusts
                        escalated = Probe(
                            probe.command, "read_other_metadata", True, probe.query, counts=True
                        )
                        attempts.append(
                            _attempt(
                                conn,
                                plan.identity,
                                role,
                                subject,
                                table.qualified,
                                escalated,
                                timeout_ms,
                                metadata=table.metadata,
                            )
                        )
                    if probe.kind == "read_other" and subject is not None:
                        # the same read with no identity: rows anyone sees are public
                        attempts.append(
                            _attempt(
                                conn,
                                plan.identity,
                                role,
                                None,
                                table.qualified,
                                probe,
                                timeout_ms,
                                kind="read_anonymous",
                            )
                        )
    matrix = cells(attempts, {t.qualified: t.public_readers for t in plan.tables if t.rls_enabled})
    matrix += _bypass_cells(conn, plan, matrix, timeout_ms)
    after = _counts(conn, plan)
    changed = sum(abs(after.get(t, 0) - n) for t, n in before.items())
    return RlsResult(
        database=plan.database,
        identity=plan.identity,
        tenants={"a": plan.tenant_a, "b": plan.tenant_b},
        roles=plan.roles,
        tables=plan.tables,
        matrix=matrix,
        leaks=leaks(matrix, plan),
        rows_changed=changed,
        counts_before=before,
        notes=plan.notes,
        elapsed_s=time.perf_counter() - started,
        attempts=len(attempts),
    )


def _bypass_cells(
    conn: psycopg.Connection, plan: Plan, matrix: list[Attempt], timeout_ms: int
) -> list[Attempt]:
    """Views and definer functions: a leak when they show B's rows the table hides."""
    hidden = {
        (a.table, a.role)
        for a in matrix
        if a.command == "SELECT" and a.outcome in (Outcome.DENIED, Outcome.OWN_ONLY)
    }
    tenant = {t.qualified: t.tenant_a for t in plan.tables}
    found = []
    for bypass in plan.bypasses:
        command = "SELECT" if bypass.kind == "view" else "EXECUTE"
        kind = "view_bypass" if bypass.kind == "view" else "definer_function"
        probe = Probe(command, kind, True, bypass.query_b, counts=True)
        for role in bypass.roles:
            subject = None if role == "anon" else tenant.get(bypass.table)
            attempt = _attempt(conn, plan.identity, role, subject, bypass.name, probe, timeout_ms)
            if attempt.outcome is Outcome.LEAK and (bypass.table, role) not in hidden:
                attempt = replace(attempt, outcome=Outcome.PUBLIC)  # the table shows them too
            found.append(attempt)
    return found


def _require_role(conn: psycopg.Connection, role: str) -> None:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    except psycopg.errors.InsufficientPrivilege:
        raise TargetError(
            f"cannot switch to role {role!r}: GRANT {role} TO the auditing role, or name the "
            "app's roles with --role"
        ) from None
    except psycopg.errors.InvalidParameterValue:
        raise TargetError(f"role {role!r} does not exist") from None


def _counts(conn: psycopg.Connection, plan: Plan) -> dict[str, int]:
    counts = {}
    for table in plan.tables:
        query = sql.SQL("SELECT /* prodready */ count(*) FROM {}").format(
            sql.Identifier(table.schema, table.name)
        )
        row = conn.execute(query).fetchone()
        counts[table.qualified] = int(row[0]) if row else 0
    return counts


def _attempt(
    conn: psycopg.Connection,
    identity: Identity,
    role: str,
    subject: str | None,
    table: str,
    probe: Probe,
    timeout_ms: int,
    kind: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Attempt:
    setup = _setup(identity, role, subject, timeout_ms, metadata)
    statement = "BEGIN;\n" + "\n".join(render(s) + ";" for s in setup)
    statement += "\n" + render(probe.query) + ";\nROLLBACK;"
    kind = kind or probe.kind
    try:
        with conn.transaction(force_rollback=True):
            for step in setup:
                conn.execute(step)
            # marked, so pg_stat_statements workloads leave the attack out
            cursor = conn.execute(sql.SQL("/* prodready */ ") + probe.query)
            if probe.counts:
                row = cursor.fetchone()
                rows = int(row[0]) if row else 0
            else:
                rows = max(cursor.rowcount, 0)
    except psycopg.errors.InsufficientPrivilege:  # no grant, or a policy's WITH CHECK
        return Attempt(table, probe.command, role, kind, statement, Outcome.DENIED, 0)
    except psycopg.errors.QueryCanceled:
        return Attempt(
            table,
            probe.command,
            role,
            kind,
            statement,
            Outcome.ERROR,
            0,
            f"timed out after {timeout_ms} ms",
        )
    except psycopg.Error as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Attempt(table, probe.command, role, kind, statement, Outcome.ERROR, 0, message)
    if probe.other and rows > probe.allowed:
        outcome = Outcome.LEAK
    elif rows:
        outcome = Outcome.OWN_ONLY
    else:
        outcome = Outcome.DENIED
    return Attempt(table, probe.command, role, kind, statement, outcome, rows)


def _setup(
    identity: Identity,
    role: str,
    subject: str | None,
    timeout_ms: int,
    metadata: dict[str, str] | None = None,
) -> list[sql.Composed]:
    steps: list[sql.Composed] = [
        sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms)),
        sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)),
    ]
    for name, value in identity.settings_for(subject, role, metadata):
        steps.append(
            sql.SQL("SELECT set_config({}, {}, true)").format(sql.Literal(name), sql.Literal(value))
        )
    return steps
