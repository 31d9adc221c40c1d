"""Real timings for a recommended index, where that is allowed (staging, a database you own).

The index is built for real inside a transaction that is rolled back; the statements it
targets run under EXPLAIN ANALYZE without it and with it (the median of REPEATS runs each,
as their role, every run rolled back). The planner's estimate can be wrong both ways: an
index it could not cost (GIN, trigram) or one it misjudges (a LIMIT walk, a join order)
is kept only when measured faster.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
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
    """Weighted milliseconds of the targeted statements without and with the index, and
    whether any of their plans used it."""

    before_ms: float
    after_ms: float
    used: bool

    @property
    def faster(self) -> bool:
        # an index no plan reads cannot be what made a run faster: that was noise
        return self.used and self.after_ms <= FASTER * self.before_ms

    def describe(self) -> str:
        unused = "; no plan used it" if not self.used else ""
        return (
            f"measured {self.before_ms:,.2f} -> {self.after_ms:,.2f} ms per window of calls "
            f"(EXPLAIN ANALYZE, median of {REPEATS}, built and rolled back){unused}"
        )


def measure_index(
    conn: psycopg.Connection, name: str, create: sql.Composed, targets: Sequence[Target]
) -> Measured:
    """Time `targets` without, then with, the index `create` builds as `name`; nothing is
    kept."""
    before = sum(t.weight * _median_ms(conn, t)[0] for t in targets)
    with conn.transaction(force_rollback=True):
        conn.execute(create)
        runs = [(t.weight, _median_ms(conn, t)) for t in targets]
    after = sum(weight * ms for weight, (ms, _) in runs)
    used = any(name in indexes for _, (_, indexes) in runs)
    return Measured(before, after, used)


def _median_ms(conn: psycopg.Connection, target: Target) -> tuple[float, set[str]]:
    runs = [_run_ms(conn, target) for _ in range(REPEATS)]
    return statistics.median(ms for ms, _ in runs), set().union(*(used for _, used in runs))


def _run_ms(conn: psycopg.Connection, target: Target) -> tuple[float, set[str]]:
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
    ms = float(document.get("Execution Time", 0.0)) + float(document.get("Planning Time", 0.0))
    return ms, set(_index_names(document.get("Plan", {})))


def _index_names(node: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in node:
        yield str(node["Index Name"])
    for child in node.get("Plans") or ():
        yield from _index_names(child)
