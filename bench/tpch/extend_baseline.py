"""A plain reimplementation of Extend (Schlosser, Kossmann, Boissier, 2019), as a baseline.

Start with no indexes. Each step considers adding a single-column index on any attribute the
workload references, or widening an already chosen index by one attribute of its table
(up to `max_width`); it takes the step with the best ratio of workload-cost reduction to
additional size (HypoPG's own size estimates, as in the paper's evaluation) that still fits
the budget, and stops when no step fits or improves. Costs are HypoPG what-if costs, cached
per (statement, hypothetical indexes on the statement's tables).

This is benchmark code written from the published description, not product code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import parse_sql
from pglast.ast import ColumnRef, RangeVar, String
from pglast.visitors import Visitor
from psycopg import sql

from bench.tpch.whatif import Statement, hypopg, plan_cost
from prodready.sqlgen import render

MAX_STEPS = 200  # a bound on the greedy loop; TPC-H needs a few dozen at most

Index = tuple[str, tuple[str, ...]]  # (table, columns)


@dataclass
class ExtendResult:
    indexes: list[Index]
    definitions: list[str]
    hypopg_bytes: int
    workload_cost_before: float
    workload_cost_after: float
    whatif_calls: int
    cache_hits: int
    elapsed_s: float
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "definitions": self.definitions,
            "hypopg_bytes": self.hypopg_bytes,
            "workload_cost_before": round(self.workload_cost_before, 2),
            "workload_cost_after": round(self.workload_cost_after, 2),
            "whatif_calls": self.whatif_calls,
            "cache_hits": self.cache_hits,
            "elapsed_s": round(self.elapsed_s, 2),
            "steps": self.steps,
        }


def ddl(index: Index) -> str:
    table, columns = index
    statement = sql.SQL("CREATE INDEX ON {} ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    return render(statement)


class _Refs(Visitor):
    """Table names and column names a statement mentions (aliases resolved by column name)."""

    def __init__(self) -> None:
        self.tables: set[str] = set()
        self.columns: set[str] = set()

    def visit_RangeVar(self, ancestors: Any, node: RangeVar) -> None:
        if node.relname:
            self.tables.add(node.relname)

    def visit_ColumnRef(self, ancestors: Any, node: ColumnRef) -> None:
        last = node.fields[-1] if node.fields else None
        if isinstance(last, String) and last.sval:  # not `*`
            self.columns.add(last.sval)


@dataclass(frozen=True)
class _Query:
    statement: Statement
    tables: frozenset[str]
    attributes: frozenset[tuple[str, str]]  # (table, column) pairs it references


class Extend:
    """One Extend run over a workload in a session that has HypoPG."""

    def __init__(
        self, conn: psycopg.Connection, statements: Sequence[Statement], max_width: int = 2
    ) -> None:
        self.conn = conn
        self.max_width = max_width
        owners = _column_owners(conn)
        self.queries = [_analyse(s, owners) for s in statements]
        self.calls = 0
        self.hits = 0
        self._cost: dict[tuple[str, frozenset[Index]], float] = {}
        self._size: dict[Index, int] = {}

    def run(self, budget_bytes: int) -> ExtendResult:
        started = time.perf_counter()
        chosen: list[Index] = []
        before = current = self.workload_cost(chosen)
        steps: list[dict[str, Any]] = []
        for _ in range(MAX_STEPS):
            step = self._best_step(chosen, current, budget_bytes)
            if step is None:
                break
            chosen, cost, label = step
            steps.append({"step": label, "cost": round(cost, 2), "bytes": self.size(chosen)})
            current = cost
        return ExtendResult(
            indexes=chosen,
            definitions=[ddl(i) for i in chosen],
            hypopg_bytes=self.size(chosen),
            workload_cost_before=before,
            workload_cost_after=current,
            whatif_calls=self.calls,
            cache_hits=self.hits,
            elapsed_s=time.perf_counter() - started,
            steps=steps,
        )

    # -- the greedy step --------------------------------------------------------------------

    def _best_step(
        self, chosen: list[Index], current: float, budget: int
    ) -> tuple[list[Index], float, str] | None:
        used = self.size(chosen)
        best: tuple[float, list[Index], float, str] | None = None
        for config, label, extra in self._moves(chosen):
            if extra <= 0 or used + extra > budget:
                continue
            cost = self.workload_cost(config)
            ratio = (current - cost) / extra
            if cost < current and (best is None or ratio > best[0]):
                best = (ratio, config, cost, label)
        return None if best is None else (best[1], best[2], best[3])

    def _moves(self, chosen: list[Index]) -> Iterable[tuple[list[Index], str, int]]:
        """(new configuration, label, bytes added): every new single-column index, and every
        chosen index widened by one attribute some query uses together with its columns."""
        for table, column in sorted(self._attributes()):
            single: Index = (table, (column,))
            if single not in chosen:
                yield [*chosen, single], f"add {ddl(single)}", self.index_size(single)
        for position, index in enumerate(chosen):
            table, columns = index
            if len(columns) >= self.max_width:
                continue
            for column in sorted(self._companions(index)):
                wider: Index = (table, (*columns, column))
                if wider in chosen:
                    continue
                config = [*chosen[:position], wider, *chosen[position + 1 :]]
                extra = self.index_size(wider) - self.index_size(index)
                yield config, f"extend to {ddl(wider)}", extra

    def _attributes(self) -> set[tuple[str, str]]:
        return {a for q in self.queries for a in q.attributes}

    def _companions(self, index: Index) -> set[str]:
        table, columns = index
        found: set[str] = set()
        for query in self.queries:
            if all((table, c) in query.attributes for c in columns):
                found |= {c for t, c in query.attributes if t == table and c not in columns}
        return found

    # -- costs and sizes -------------------------------------------------------------------

    def workload_cost(self, config: list[Index]) -> float:
        """Sum of the statements' weighted costs; only cache misses are planned, in one batch."""
        keys = [(q, self._key(q, config)) for q in self.queries]
        missing = [(q, k) for q, k in keys if (q.statement.name, k) not in self._cost]
        self.hits += len(keys) - len(missing)
        if missing:
            self._hypothetical(config)
            for query, key in missing:
                self._cost[(query.statement.name, key)] = plan_cost(self.conn, query.statement.sql)
                self.calls += 1
        return sum(q.statement.weight * self._cost[(q.statement.name, k)] for q, k in keys)

    def _key(self, query: _Query, config: list[Index]) -> frozenset[Index]:
        return frozenset(i for i in config if i[0] in query.tables)

    def _hypothetical(self, config: list[Index]) -> None:
        self.conn.execute(hypopg(self.conn, "SELECT {h}.hypopg_reset()"))
        for index in config:
            self.conn.execute(
                hypopg(self.conn, "SELECT * FROM {h}.hypopg_create_index(%s)"), (ddl(index),)
            )

    def index_size(self, index: Index) -> int:
        if index not in self._size:
            row = self.conn.execute(
                hypopg(
                    self.conn,
                    "SELECT {h}.hypopg_relation_size(indexrelid) FROM {h}.hypopg_create_index(%s)",
                ),
                (ddl(index),),
            ).fetchone()
            assert row is not None
            self._size[index] = int(row[0])
            self.conn.execute(hypopg(self.conn, "SELECT {h}.hypopg_reset()"))
        return self._size[index]

    def size(self, config: Iterable[Index]) -> int:
        return sum(self.index_size(i) for i in config)


def _column_owners(conn: psycopg.Connection) -> dict[str, str]:
    """Column name -> its table, for names that exist in exactly one table of `public`."""
    rows = conn.execute(
        "SELECT a.attname, min(c.relname), count(*) FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
        " AND a.attnum > 0 AND NOT a.attisdropped GROUP BY a.attname"
    ).fetchall()
    return {str(name): str(table) for name, table, n in rows if n == 1}


def _analyse(statement: Statement, owners: dict[str, str]) -> _Query:
    refs = _Refs()
    refs(parse_sql(statement.sql))
    attributes = {(owners[c], c) for c in refs.columns if c in owners}
    tables = {t for t in refs.tables if t in set(owners.values())}
    return _Query(statement, frozenset(tables), frozenset(attributes))
