"""Findings from a load test (pure functions): failed thresholds, the client as the limit,
dropped requests, and what the database did under the load."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prodready.load.database import DatabaseUnderLoad
from prodready.load.result import LoadRun
from prodready.load.thresholds import ThresholdResult
from prodready.model import Category, Finding, Severity

CONNECTIONS_BUSY = 0.8  # share of max_connections in use that leaves no room for a spike
STATEMENT_DOMINATES = 0.5  # one statement taking this share of database time
CACHE_HIT_LOW = 0.99


def load_findings(
    run: LoadRun, thresholds: Iterable[ThresholdResult], database: DatabaseUnderLoad | None
) -> list[Finding]:
    """Every finding of the run, sorted like the audit's (severity, check, object)."""
    found = [*_thresholds(run, thresholds), *_client(run)]
    if database is not None:
        found += [*_connections(run, database), *_statements(run, database), *_cache(database)]
    return sorted(found, key=lambda f: (-int(f.severity), f.check, f.object))


def _finding(
    check: str,
    severity: Severity,
    category: Category,
    obj: str,
    title: str,
    detail: str,
    evidence: dict[str, Any],
) -> Finding:
    return Finding(
        key=f"{check}:{obj}",
        check=check,
        severity=severity,
        category=category,
        object=obj,
        title=title,
        detail=detail,
        evidence=evidence,
        fix=None,
    )


def _rate(run: LoadRun) -> str:
    return f"{run.offered_rps:.0f} req/s offered"


def _thresholds(run: LoadRun, results: Iterable[ThresholdResult]) -> Iterator[Finding]:
    for result in results:
        if result.ok:
            continue
        value = "nothing was measured" if result.value is None else f"measured {result.value:g}"
        category = Category.RELIABILITY if "rate" in result.expr else Category.PERFORMANCE
        yield _finding(
            "load_threshold_failed",
            Severity.HIGH,
            category,
            f"{run.target} {result.expr}",
            f"Load threshold not met: {result.expr}",
            f"{result.expr} failed at {_rate(run)} ({value}).",
            {"expr": result.expr, "value": result.value, "offered_rps": round(run.offered_rps, 3)},
        )


def _client(run: LoadRun) -> Iterator[Finding]:
    evidence = {
        "offered_rps": round(run.offered_rps, 3),
        "achieved_rps": round(run.achieved_rps, 3),
        "dropped": run.dropped,
        "send_lag_p99_ms": run.send_lag_p99_ms,
    }
    if run.client_limited:
        yield _finding(
            "load_client_limited",
            Severity.MEDIUM,
            Category.OBSERVABILITY,
            run.target,
            "The load generator, not the target, was the limit",
            f"This machine sent {run.achieved_rps:.0f} of the {run.offered_rps:.0f} req/s "
            "offered (its own timetable slipped); the latencies include that delay. Lower "
            "--rate or use --engine locust --workers N.",
            evidence,
        )
    elif run.dropped:
        yield _finding(
            "load_dropped_requests",
            Severity.HIGH,
            Category.RELIABILITY,
            run.target,
            "Requests could not be sent in time",
            f"{run.dropped} requests found no free connection within the timeout of their due "
            f"time at {_rate(run)}: the target answered too slowly for the connection limit.",
            evidence,
        )


def _connections(run: LoadRun, db: DatabaseUnderLoad) -> Iterator[Finding]:
    if not db.max_connections:
        return
    share = db.peak_connections / db.max_connections
    busy = share >= CONNECTIONS_BUSY
    yield _finding(
        "load_db_connections",
        Severity.HIGH if busy else Severity.INFO,
        Category.RELIABILITY,
        f"{db.database} (max_connections)",
        "Connections in use under load" + (" near max_connections" if busy else ""),
        f"At {_rate(run)} up to {db.peak_connections} of {db.max_connections} connections "
        f"were open ({share:.0%}), {db.peak_active} active at once"
        + (": put a pooler (PgBouncer) in front or lower the app's pool size." if busy else "."),
        {
            "peak_connections": db.peak_connections,
            "max_connections": db.max_connections,
            "peak_active": db.peak_active,
            "peak_lock_waits": db.peak_lock_waits,
            "waits": db.waits,
        },
    )


def _statements(run: LoadRun, db: DatabaseUnderLoad) -> Iterator[Finding]:
    if not db.statements:
        return
    top = db.statements[0]
    dominant = top.share >= STATEMENT_DOMINATES
    yield _finding(
        "load_db_top_statement",
        Severity.MEDIUM if dominant else Severity.INFO,
        Category.PERFORMANCE,
        top.query[:200],
        "One statement took most of the database time under load"
        if dominant
        else "The statement that took the most database time under load",
        f"At {_rate(run)} this statement took {top.share:.0%} of database time during the "
        f"test ({top.calls} calls, {top.total_ms / top.calls:.2f} ms each)"
        + (": run `prodready advise` for an index." if dominant else "."),
        top.to_json(),
    )


def _cache(db: DatabaseUnderLoad) -> Iterator[Finding]:
    if db.cache_hit_ratio is None:
        return
    low = db.cache_hit_ratio < CACHE_HIT_LOW
    yield _finding(
        "load_db_cache_hit_ratio",
        Severity.MEDIUM if low else Severity.INFO,
        Category.PERFORMANCE,
        f"{db.database} (shared_buffers)",
        "Cache hit ratio under load" + (" is low" if low else ""),
        f"{db.cache_hit_ratio:.2%} of block reads during the test came from shared_buffers "
        f"({db.blocks_read} read from disk or the OS cache)"
        + (": the working set does not fit; add memory or indexes." if low else "."),
        {"cache_hit_ratio": round(db.cache_hit_ratio, 5), "blocks_read": db.blocks_read},
    )
