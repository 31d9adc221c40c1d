"""Workload checks: the buffer cache hit ratio and the statements that take the most time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from prodready.db.checks.shared import stats_evidence
from prodready.db.snapshot import Snapshot, Statement, quote_ident
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check
from prodready.sqltree import nodes_of
from prodready.units import human_bytes

UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


# -- low_cache_hit_ratio --


@check(
    "low_cache_hit_ratio",
    title="Low buffer cache hit ratio",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"min_ratio": 0.99, "min_total_blocks": 1_000_000},
)
def low_cache_hit_ratio(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """When many block reads miss shared_buffers, queries wait on the operating system cache
    or the disk. A ratio below 99% on a busy database usually means shared_buffers is too
    small for the working set (about 25% of RAM is the usual start) or queries read far more
    than they need (missing indexes: run `prodready advise`). Judged only after enough
    traffic that a cold cache after a restart does not dominate."""
    db = snap.database
    total = db.blks_hit + db.blks_read
    if total < opts["min_total_blocks"]:
        return
    ratio = db.blks_hit / total
    if ratio >= opts["min_ratio"]:
        return
    shared = setting_bytes(snap, "shared_buffers")
    detail = (
        f"Only {ratio:.2%} of block reads were served from shared_buffers "
        f"({human_bytes(shared) if shared else 'size unknown'}; database "
        f"{human_bytes(db.size_bytes) if db.size_bytes else 'size unknown'}). Raise "
        "shared_buffers if memory allows, and find the queries that read the most blocks."
    )
    evidence: dict[str, Any] = {
        "hit_ratio": round(ratio, 4),
        "blks_hit": db.blks_hit,
        "blks_read": db.blks_read,
        "shared_buffers": snap.setting("shared_buffers"),
        "shared_buffers_bytes": shared,
        "database_bytes": db.size_bytes,
        **stats_evidence(snap),
    }
    verify = (
        "SELECT blks_hit::float8 / nullif(blks_hit + blks_read, 0) FROM pg_stat_database "
        "WHERE datname = current_database()"
    )
    yield Issue(f"database {quote_ident(db.name)}", detail, evidence, verify=verify)


def setting_bytes(snap: Snapshot, name: str) -> int | None:
    """A memory setting in bytes (pg_settings gives a number and a unit such as 8kB)."""
    found = snap.setting_map.get(name)
    if found is None:
        return None
    try:
        return int(float(found.value) * UNIT_BYTES.get(found.unit or "B", 1))
    except ValueError:
        return None


# -- slow_query --


@check(
    "slow_query",
    title="Slow or dominant query",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={
        "min_share": 0.10,
        "min_mean_ms": 100.0,
        "min_calls": 10,
        "min_total_ms": 10_000.0,
        "high_share": 0.30,
        "high_mean_ms": 1000.0,
        "min_blocks_per_call": 5000,
        "query_chars": 500,
    },
)
def slow_query(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """From pg_stat_statements: a statement that takes a large share of all execution time,
    or is slow on average across many calls, is where tuning pays off first. Flagged when
    its share of total time or its mean time passes the thresholds (high for the worst),
    or when each call reads more than `min_blocks_per_call` buffers (5,000 blocks = 40 MB):
    on a warm cache and fast hardware such a scan looks quick, and it is what falls over
    under load. Maintenance and DDL (VACUUM, CREATE INDEX, COPY...) are left out. EXPLAIN
    (ANALYZE, BUFFERS) it, or run `prodready advise` for index recommendations."""
    if snap.statements is None:
        return  # pg_stat_statements_missing reports why
    workload = [s for s in _by_queryid(snap.statements) if not _maintenance(s.query)]
    grand_total = sum(s.total_ms for s in workload)
    if grand_total <= 0:
        return
    for stmt in workload:
        share = stmt.total_ms / grand_total
        by_share = share >= opts["min_share"] and stmt.total_ms >= opts["min_total_ms"]
        by_mean = stmt.mean_ms >= opts["min_mean_ms"] and stmt.calls >= opts["min_calls"]
        by_io = stmt.blocks_per_call >= opts["min_blocks_per_call"] and (
            stmt.calls >= opts["min_calls"]
        )
        if by_share or by_mean or by_io:
            yield _slow_issue(snap, stmt, share, grand_total, opts)


@dataclass(frozen=True)
class _Workload:
    """One queryid's statistics summed over roles and nesting levels."""

    queryid: str
    query: str | None
    calls: int
    total_ms: float
    max_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    temp_blks_written: int

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    @property
    def blocks_per_call(self) -> float:
        blocks = self.shared_blks_hit + self.shared_blks_read
        return blocks / self.calls if self.calls else 0.0


def _by_queryid(rows: list[Statement]) -> list[_Workload]:
    merged: dict[str, _Workload] = {}
    for r in rows:
        key = r.queryid or "unknown"
        seen = merged.get(key)
        merged[key] = _Workload(
            queryid=key,
            query=(seen.query if seen and seen.query else r.query),
            calls=r.calls + (seen.calls if seen else 0),
            total_ms=r.total_exec_time_ms + (seen.total_ms if seen else 0.0),
            max_ms=max(r.max_exec_time_ms, seen.max_ms if seen else 0.0),
            rows=r.rows + (seen.rows if seen else 0),
            shared_blks_hit=r.shared_blks_hit + (seen.shared_blks_hit if seen else 0),
            shared_blks_read=r.shared_blks_read + (seen.shared_blks_read if seen else 0),
            temp_blks_written=r.temp_blks_written + (seen.temp_blks_written if seen else 0),
        )
    return list(merged.values())


_LEADING_COMMENTS = re.compile(r"^(\s|/\*.*?\*/|--[^\n]*\n)*", re.DOTALL)
_MAINTENANCE = re.compile(
    r"(VACUUM|ANALY[SZ]E|CREATE|ALTER|DROP|REINDEX|CLUSTER|REFRESH|CHECKPOINT|TRUNCATE|GRANT|"
    r"REVOKE|COMMENT|SECURITY|SET|RESET|SHOW|BEGIN|START|COMMIT|ROLLBACK|END|ABORT|SAVEPOINT|"
    r"RELEASE|PREPARE\s+TRANSACTION|DISCARD|LISTEN|UNLISTEN|NOTIFY|LOCK|COPY|DEALLOCATE|"
    r"EXPLAIN|LOAD)\b",
    re.IGNORECASE,
)


def _tables_read(snap: Snapshot, query: str | None) -> list[str]:
    """The tables a statement names, largest first, with their sizes (parsed, never run)."""
    if not query:
        return []
    try:
        statements = parse_sql(query)
    except ParseError:
        return []
    names = {(rv.schemaname, rv.relname) for rv in nodes_of(statements, ast.RangeVar)}
    found = [t for t in snap.tables if (t.schema, t.name) in names or (None, t.name) in names]
    found.sort(key=lambda t: -(t.total_bytes or 0))
    return [
        f"{t.qualified} ({human_bytes(t.total_bytes)})" if t.total_bytes else t.qualified
        for t in found[:3]
    ]


def _maintenance(query: str | None) -> bool:
    """DDL, maintenance and session commands: slow by nature, not tuning targets."""
    if not query:
        return False
    return _MAINTENANCE.match(_LEADING_COMMENTS.sub("", query, count=1)) is not None


def _slow_issue(
    snap: Snapshot, stmt: _Workload, share: float, grand_total: float, opts: Options
) -> Issue:
    high = (share >= opts["high_share"] and stmt.total_ms >= opts["min_total_ms"]) or (
        stmt.mean_ms >= opts["high_mean_ms"] and stmt.calls >= opts["min_calls"]
    )
    rows_per_call = stmt.rows / stmt.calls if stmt.calls else 0.0
    detail = (
        f"{stmt.calls:,} calls averaging {stmt.mean_ms:,.1f} ms take "
        f"{stmt.total_ms / 1000:,.1f} s, {share:.0%} of all statement time."
    )
    if rows_per_call >= 1000:
        detail += f" Each call returns {rows_per_call:,.0f} rows: consider paginating."
    read_bytes = int(stmt.blocks_per_call * snap.server.block_size)
    big_reads = stmt.blocks_per_call >= opts["min_blocks_per_call"]
    tables = _tables_read(snap, stmt.query) if big_reads else []
    if big_reads:
        detail += (
            f" Each call reads {stmt.blocks_per_call:,.0f} blocks ({human_bytes(read_bytes)})"
            f"{', from ' + ', '.join(tables) if tables else ''}: fast only while that stays "
            "in cache, it is a scan that will not hold under load."
        )
    text = stmt.query or "<hidden: grant pg_read_all_stats to see other roles' statements>"
    limit = int(opts["query_chars"])
    evidence = {
        "queryid": stmt.queryid,
        "query": text if len(text) <= limit else text[:limit] + "...",
        "calls": stmt.calls,
        "mean_ms": round(stmt.mean_ms, 2),
        "max_ms": round(stmt.max_ms, 2),
        "total_ms": round(stmt.total_ms, 1),
        "share": round(share, 4),
        "workload_total_ms": round(grand_total, 1),
        "rows": stmt.rows,
        "rows_per_call": round(rows_per_call, 1),
        "shared_blks_hit": stmt.shared_blks_hit,
        "shared_blks_read": stmt.shared_blks_read,
        "temp_blks_written": stmt.temp_blks_written,
        "blocks_per_call": round(stmt.blocks_per_call, 1),
        "bytes_per_call": read_bytes,
        "tables_read": tables,
    }
    verify = (
        f"`prodready advise` explains it; after tuning, pg_stat_statements shows queryid "
        f"{stmt.queryid} below {opts['min_mean_ms']:g} ms mean"
    )
    # the database name scopes a queryid; statements have no schema of their own
    return Issue(
        f"{quote_ident(snap.database.name)}: query {stmt.queryid}",
        detail,
        evidence,
        severity=Severity.HIGH if high else None,
        verify=verify,
    )
