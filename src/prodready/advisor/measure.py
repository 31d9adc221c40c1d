"""Real timings for a recommended index, where that is allowed (staging, a database you own).

The index is built for real inside a transaction that is rolled back; the statements it
targets run under EXPLAIN ANALYZE without it and with it (the median of REPEATS runs each,
as their role, every run rolled back). The planner's estimate can be wrong both ways: an
index it could not cost (GIN, trigram) or one it misjudges (a LIMIT walk, a join order)
is kept only when measured faster.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

REPEATS = 3
FASTER = 0.8  # measured at most 80% of the time without it: faster beyond timing noise


@dataclass(frozen=True)
class Target:
    """A statement to time: its bound SQL, the role it runs as, its calls per window."""

    sql: str
    role: str | None
    weight: float


@dataclass(frozen=True)
class Measured:
    """Weighted milliseconds of the targeted statements without and with the index."""

    before_ms: float
    after_ms: float

    @property
    def faster(self) -> bool:
        return self.after_ms <= FASTER * self.before_ms

    def describe(self) -> str:
        return (
            f"measured {self.before_ms:,.2f} -> {self.after_ms:,.2f} ms per window of calls "
            f"(EXPLAIN ANALYZE, median of {REPEATS}, built and rolled back)"
        )


def measure_index(
    conn: psycopg.Connection, create: sql.Composed, targets: Sequence[Target]
) -> Measured:
    """Time `targets` without, then with, the index `create` builds; nothing is kept."""
    before = sum(t.weight * _median_ms(conn, t) for t in targets)
    with conn.transaction(force_rollback=True):
        conn.execute(create)
        after = sum(t.weight * _median_ms(conn, t) for t in targets)
    return Measured(before, after)


def _median_ms(conn: psycopg.Connection, target: Target) -> float:
    return statistics.median(_run_ms(conn, target) for _ in range(REPEATS))


def _run_ms(conn: psycopg.Connection, target: Target) -> float:
    # a savepoint inside the index's transaction, a transaction of its own outside it:
    # either way the statement's writes are undone and SET LOCAL ROLE ends with it
    with conn.transaction(force_rollback=True):
        if target.role is not None:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(target.role)))
        row = conn.execute(
            sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) {}").format(sql.SQL(target.sql))
        ).fetchone()
    plan: Any = row[0] if row else None
    document = plan[0] if isinstance(plan, list) and plan else {}
    return float(document.get("Execution Time", 0.0)) + float(document.get("Planning Time", 0.0))
