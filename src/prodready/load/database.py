"""The database under load: one read-only session samples activity while the test runs.

Connections in use against max_connections, what sessions wait on, the statements that took
the most time during the test (pg_stat_statements deltas) and the cache hit ratio.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from prodready.pg.connection import SessionLimits, connect

SAMPLE_EVERY_S = 1.0
TOP_STATEMENTS = 5

_ACTIVITY = """
SELECT count(*) FILTER (WHERE backend_type = 'client backend'),
       count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active'),
       count(*) FILTER (WHERE wait_event_type = 'Lock'),
       (SELECT setting::int FROM pg_settings WHERE name = 'max_connections')
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
"""
_WAITS = """
SELECT wait_event_type || ':' || wait_event, count(*)
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid() AND state = 'active' AND wait_event IS NOT NULL
   AND backend_type = 'client backend'
 GROUP BY 1
"""
_DATABASE = """
SELECT current_database(), blks_hit, blks_read, xact_commit, xact_rollback, deadlocks
  FROM pg_stat_database WHERE datname = current_database()
"""
_PGSS_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'
"""
_STATEMENTS = """
SELECT userid::text || ':' || queryid::text, query, calls, total_exec_time
  FROM {}.pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT LIKE '%pg_stat_%'
"""


@dataclass(frozen=True)
class StatementLoad:
    """A statement's share of database time during the test."""

    query: str
    calls: int
    total_ms: float
    share: float

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.total_ms / self.calls, 3) if self.calls else None,
            "share": round(self.share, 4),
        }


@dataclass(frozen=True)
class DatabaseUnderLoad:
    """What the database did during the run (deltas between the first and last sample)."""

    database: str
    samples: int
    max_connections: int
    peak_connections: int
    peak_active: int
    peak_lock_waits: int
    waits: dict[str, int]
    cache_hit_ratio: float | None
    blocks_read: int
    commits: int
    rollbacks: int
    deadlocks: int
    statements: tuple[StatementLoad, ...]
    statements_total_ms: float
    limitations: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "samples": self.samples,
            "max_connections": self.max_connections,
            "peak_connections": self.peak_connections,
            "peak_active": self.peak_active,
            "peak_lock_waits": self.peak_lock_waits,
            "waits": dict(sorted(self.waits.items(), key=lambda kv: (-kv[1], kv[0]))),
            "cache_hit_ratio": None
            if self.cache_hit_ratio is None
            else round(self.cache_hit_ratio, 5),
            "blocks_read": self.blocks_read,
            "commits": self.commits,
            "rollbacks": self.rollbacks,
            "deadlocks": self.deadlocks,
            "statements_total_ms": round(self.statements_total_ms, 3),
            "top_statements": [s.to_json() for s in self.statements],
            "limitations": list(self.limitations),
        }


class DatabaseSampler:
    """Samples on one read-only session in a background thread while the load runs."""

    def __init__(self, dsn: str) -> None:
        # connect up front: a wrong DSN ends the command before any load is sent
        self.conn = connect(dsn, limits=SessionLimits(statement_timeout_ms=5_000))
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="prodready-db-sampler", daemon=True)
        self.limitations: list[str] = []
        self.samples = 0
        self.peak = (0, 0, 0)
        self.max_connections = 0
        self.waits: Counter[str] = Counter()
        self.pgss = self._pgss_schema()
        self.first_db = self._database()
        self.first_statements = self._statements()

    def __enter__(self) -> DatabaseSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        if exc[0] is not None:
            self.conn.close()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._sample()
            except psycopg.Error as exc:
                self.limitations.append(f"sampling stopped: {str(exc).strip().splitlines()[0]}")
                return
            self.stop_event.wait(SAMPLE_EVERY_S)

    def _sample(self) -> None:
        row = self.conn.execute(_ACTIVITY).fetchone()
        if row is not None:
            clients, active, lock_waits, max_connections = (int(v or 0) for v in row)
            self.max_connections = max_connections
            self.peak = tuple(
                max(a, b) for a, b in zip(self.peak, (clients, active, lock_waits), strict=True)
            )  # type: ignore[assignment]
        for name, count in self.conn.execute(_WAITS).fetchall():
            self.waits[str(name)] += int(count)
        self.samples += 1

    def _pgss_schema(self) -> str | None:
        row = self.conn.execute(_PGSS_SCHEMA).fetchone()
        if row is None:
            self.limitations.append("pg_stat_statements is not installed: no statement times")
            return None
        return str(row[0])

    def _database(self) -> tuple[Any, ...]:
        row = self.conn.execute(_DATABASE).fetchone()
        return tuple(row) if row else ("", 0, 0, 0, 0, 0)

    def _statements(self) -> dict[str, tuple[str, int, float]]:
        if self.pgss is None:
            return {}
        try:
            rows = self.conn.execute(
                sql.SQL(_STATEMENTS).format(sql.Identifier(self.pgss))
            ).fetchall()
        except psycopg.Error as exc:
            self.limitations.append(
                f"cannot read pg_stat_statements: {str(exc).strip().splitlines()[0]}"
            )
            self.pgss = None
            return {}
        return {str(k): (str(q), int(c), float(t)) for k, q, c, t in rows}

    def result(self) -> DatabaseUnderLoad:
        """Stop sampling; the deltas between the first and the last reading."""
        self.stop_event.set()
        self.thread.join(timeout=10)
        try:
            if self.samples == 0:
                self._sample()
            last_db = self._database()
            last_statements = self._statements()
        finally:
            self.conn.close()
        return summarise(
            self.first_db,
            last_db,
            self.first_statements,
            last_statements,
            samples=self.samples,
            peak=self.peak,
            max_connections=self.max_connections,
            waits=dict(self.waits),
            limitations=tuple(self.limitations),
        )


def summarise(
    first_db: tuple[Any, ...],
    last_db: tuple[Any, ...],
    first_statements: dict[str, tuple[str, int, float]],
    last_statements: dict[str, tuple[str, int, float]],
    *,
    samples: int,
    peak: tuple[int, int, int],
    max_connections: int,
    waits: dict[str, int],
    limitations: tuple[str, ...],
) -> DatabaseUnderLoad:
    """Deltas of the counters and the statements' share of the time (pure)."""
    name = str(last_db[0])
    hit, read, commits, rollbacks, deadlocks = (
        int(last_db[i] or 0) - int(first_db[i] or 0) for i in range(1, 6)
    )
    statements = []
    for key, (query, calls, total) in last_statements.items():
        before = first_statements.get(key, (query, 0, 0.0))
        d_calls, d_total = calls - before[1], total - before[2]
        if d_calls > 0 and d_total > 0:
            statements.append((query, d_calls, d_total))
    total_ms = sum(s[2] for s in statements)
    top = sorted(statements, key=lambda s: (-s[2], s[0]))[:TOP_STATEMENTS]
    return DatabaseUnderLoad(
        database=name,
        samples=samples,
        max_connections=max_connections,
        peak_connections=peak[0],
        peak_active=peak[1],
        peak_lock_waits=peak[2],
        waits=waits,
        cache_hit_ratio=hit / (hit + read) if hit + read > 0 else None,
        blocks_read=read,
        commits=commits,
        rollbacks=rollbacks,
        deadlocks=deadlocks,
        statements=tuple(
            StatementLoad(" ".join(q.split()), c, t, t / total_ms if total_ms else 0.0)
            for q, c, t in top
        ),
        statements_total_ms=total_ms,
        limitations=limitations,
    )
