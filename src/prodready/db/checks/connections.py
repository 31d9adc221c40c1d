"""Connection checks: saturation of max_connections, and sessions that hold things open."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prodready.db.checks.reliability import database_object, int_setting
from prodready.db.snapshot import Activity, Snapshot, quote_ident
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check

CLIENT = "client backend"


def _is_client(session: Activity) -> bool:
    return session.backend_type in (CLIENT, None)


# -- connection_saturation --


@check(
    "connection_saturation",
    title="Connections close to the limit",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    options={
        "high_percent": 80.0,
        "critical_percent": 95.0,
        "idle_percent": 50.0,
        "idle_min_usage_percent": 50.0,
    },
)
def connection_saturation(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """When every connection slot is taken, new sessions are refused: the application fails
    even though the database is healthy. Many idle connections mean each application process
    holds its own pool.

    Put a pooler (PgBouncer in transaction mode, or the provider's) in front of PostgreSQL
    and shrink application pools; raising max_connections costs memory and needs a restart.
    """
    max_connections = int_setting(snap, "max_connections")
    if not max_connections:
        return
    reserved = sum(
        int_setting(snap, name) or 0
        for name in ("superuser_reserved_connections", "reserved_connections")
    )
    available = max(1, max_connections - reserved)
    clients = [a for a in snap.activity if a.backend_type == CLIENT]
    percent = round(100.0 * len(clients) / available, 1)
    states = Counter(a.state or "unknown" for a in clients)
    evidence: dict[str, Any] = {
        "max_connections": max_connections,
        "reserved_connections": reserved,
        "available": available,
        "client_connections": len(clients),
        "percent_used": percent,
        "by_state": dict(sorted(states.items())),
        "this_database": sum(1 for a in clients if a.same_database),
    }
    if percent >= opts["high_percent"]:
        yield _saturation_issue(evidence, percent >= opts["critical_percent"])
    if percent >= opts["idle_min_usage_percent"]:
        yield from _idle_pool_issue(evidence, states, opts)
    yield from _database_limit_issue(snap, clients, opts)


def _saturation_issue(evidence: dict[str, Any], critical: bool) -> Issue:
    return Issue(
        object="max_connections",
        detail=(
            f"{evidence['client_connections']} of the {evidence['available']} connections "
            f"available to applications are in use ({evidence['percent_used']}%; "
            f"max_connections {evidence['max_connections']} minus "
            f"{evidence['reserved_connections']} reserved). When they run out, new sessions "
            "are refused."
        ),
        evidence=evidence,
        severity=Severity.CRITICAL if critical else None,
        verify="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )


def _idle_pool_issue(
    evidence: dict[str, Any], states: Counter[str], opts: Options
) -> Iterator[Issue]:
    clients = evidence["client_connections"]
    if states["unknown"] * 2 > clients:
        return  # most states hidden from this role: cannot tell (a limitation says so)
    idle_percent = round(100.0 * states["idle"] / clients, 1)
    if idle_percent < opts["idle_percent"]:
        return
    yield Issue(
        object="max_connections (idle)",
        detail=(
            f"{states['idle']} of {clients} connections ({idle_percent}%) are idle while "
            f"{evidence['percent_used']}% of the slots are taken: application pools hold "
            "connections they do not use. A server-side pooler (PgBouncer in transaction mode) "
            "serves the same load with a fraction of the connections."
        ),
        evidence={**evidence, "idle_percent": idle_percent},
        severity=Severity.MEDIUM,
        verify="SELECT state, count(*) FROM pg_stat_activity GROUP BY state",
    )


def _database_limit_issue(
    snap: Snapshot, clients: list[Activity], opts: Options
) -> Iterator[Issue]:
    limit = snap.database.conn_limit
    if limit < 0:
        return
    used = sum(1 for a in clients if a.same_database)
    percent = round(100.0 * used / max(1, limit), 1)
    if percent < opts["high_percent"]:
        return
    yield Issue(
        object=database_object(snap.database.name),
        detail=(
            f"{used} of the {limit} connections allowed for database "
            f"{quote_ident(snap.database.name)} (ALTER DATABASE ... CONNECTION LIMIT) are in use "
            f"({percent}%)."
        ),
        evidence={"connection_limit": limit, "connections": used, "percent_used": percent},
        severity=Severity.CRITICAL if percent >= opts["critical_percent"] else None,
        verify="SELECT numbackends FROM pg_stat_database WHERE datname = current_database()",
    )


# -- idle_in_transaction --

IDLE_IN_TRANSACTION = frozenset({"idle in transaction", "idle in transaction (aborted)"})


@check(
    "idle_in_transaction",
    title="Sessions idle inside an open transaction",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    options={"min_seconds": 60.0, "high_seconds": 600.0},
)
def idle_in_transaction(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A session that opened a transaction and went quiet keeps its locks (any ALTER TABLE,
    and everything queued behind it, waits) and, once it holds a snapshot or has written,
    stops vacuum from removing dead rows; usually an application bug that skips COMMIT.

    Find the code path from application_name and the last query; end the session with
    `pg_terminate_backend(pid)`, and set idle_in_transaction_session_timeout as a backstop.
    """
    for session in snap.activity:
        if session.is_self or session.state not in IDLE_IN_TRANSACTION:
            continue
        idle = session.state_age_s
        if idle is None or idle < opts["min_seconds"] or not _is_client(session):
            continue
        open_for = max(session.xact_age_s or 0.0, idle)
        elsewhere = (
            ""
            if session.same_database
            else " It is in another database: it blocks vacuum there and on shared catalogs, "
            "not of this database's tables."
        )
        yield Issue(
            object=_session_object(snap, session),
            detail=(
                f"{_who(session)} has been {session.state} for {duration(idle)} (transaction "
                f"open {duration(open_for)}). It holds its locks, and a snapshot or written rows "
                f"keep vacuum from cleaning up.{elsewhere}"
            ),
            evidence=_session_evidence(session),
            severity=Severity.HIGH if open_for >= opts["high_seconds"] else None,
            verify=(
                "SELECT pid, state, now() - state_change FROM pg_stat_activity "
                "WHERE state LIKE 'idle in transaction%'"
            ),
        )


# -- long_running_query --

# Maintenance and backups that run long without blocking writes: noted, not flagged.
# (VACUUM FULL, CLUSTER and plain CREATE INDEX / REINDEX block writes, so they stay flagged.)
_BENIGN = (
    re.compile(r"^VACUUM\b(?!.*\bFULL\b)"),
    re.compile(r"^ANALYZE\b"),
    re.compile(r"^CREATE (UNIQUE )?INDEX CONCURRENTLY\b"),
    re.compile(r"^REINDEX\b.*\bCONCURRENTLY\b"),
    re.compile(r"^COPY\b.*\bTO STDOUT\b"),
)
_BACKUP_APPS = frozenset({"pg_dump", "pg_dumpall", "pg_basebackup"})


@check(
    "long_running_query",
    title="Queries running for a long time",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    options={"min_seconds": 300.0, "high_seconds": 3600.0},
)
def long_running_query(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A query running for many minutes holds locks and a snapshot the whole time: DDL queues
    behind it, vacuum cannot remove rows it might see, and one connection is tied up.

    Cancel it with `pg_cancel_backend(pid)` if it is a runaway, fix its plan (indexes), and
    set statement_timeout so the next one is stopped for you.
    """
    for session in snap.activity:
        if session.is_self or session.state != "active" or not _is_client(session):
            continue
        running = session.query_age_s
        if running is None or running < opts["min_seconds"]:
            continue
        maintenance = _is_maintenance(session)
        if maintenance:
            severity: Severity | None = Severity.INFO
        else:
            severity = Severity.HIGH if running >= opts["high_seconds"] else None
        waiting = (
            f", waiting on {session.wait_event_type}/{session.wait_event}"
            if session.wait_event_type
            else ""
        )
        note = " It looks like maintenance or a backup, so it is only noted." if maintenance else ""
        yield Issue(
            object=_session_object(snap, session),
            detail=(
                f"{_who(session)} has been running one query for {duration(running)}{waiting}. "
                f"It holds its locks and snapshot the whole time.{note}"
            ),
            evidence=_session_evidence(session),
            severity=severity,
            verify=(
                "SELECT pid, now() - query_start, query FROM pg_stat_activity "
                "WHERE state = 'active' ORDER BY 2 DESC"
            ),
        )


def _is_maintenance(session: Activity) -> bool:
    if (session.application_name or "") in _BACKUP_APPS:
        return True
    text = " ".join((session.query or "").upper().split())
    return any(pattern.match(text) for pattern in _BENIGN)


# -- shared by the session checks --


def _session_object(snap: Snapshot, session: Activity) -> str:
    where = database_object(snap.database.name) if session.same_database else "another database"
    return f"{where}: pid {session.pid}"


def _who(session: Activity) -> str:
    user = quote_ident(session.user) if session.user else "an unknown role"
    app = f", application {session.application_name!r}" if session.application_name else ""
    return f"Session {session.pid} ({user}{app})"


def _session_evidence(session: Activity) -> dict[str, Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "pid": session.pid,
        "user": session.user,
        "application_name": session.application_name,
        "state": session.state,
        "state_age_s": rounded(session.state_age_s),
        "xact_age_s": rounded(session.xact_age_s),
        "query_age_s": rounded(session.query_age_s),
        "wait_event_type": session.wait_event_type,
        "wait_event": session.wait_event,
        "same_database": session.same_database,
        "query": session.query,
    }


def duration(seconds: float) -> str:
    """A human duration: '45 s', '12 min', '3.5 h', '4 days'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
