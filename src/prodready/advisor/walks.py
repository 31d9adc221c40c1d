"""How far an ORDER BY ... LIMIT walks along an index before it has its rows, from a sample.

The planner costs `WHERE status = 'active' ORDER BY created_at DESC LIMIT 24` over an index
on created_at as if the matching rows were spread evenly along it. That is right when the
filter and the order are unrelated, and badly wrong when every match sits at the far end
(then the scan reads almost the whole index first). Rather than assume the worst, a
sample of the table (TABLESAMPLE SYSTEM, about SAMPLE_ROWS rows) sorted in the index's
order shows how far the scan must go to collect the rows it needs.

Only conditions made of this table's columns, constants, comparisons, pattern matches and
boolean logic are evaluated on the sample; anything else (a function, a parameter, a
subquery, a column of another table) keeps the pessimistic bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind
from pglast.parser import ParseError
from pglast.stream import RawStream
from psycopg import sql
from psycopg.pq import TransactionStatus

from prodready.advisor.analysis import TableName

SAMPLE_ROWS = 30_000  # about 3 ms of sorting; positions good to about 1/30,000 of a walk
SAFETY = 2  # the walk is read to the position of twice as many matches as it needs
_SAFE_OPERATORS = frozenset(
    ["=", "<>", "!=", "<", ">", "<=", ">=", "~~", "~~*", "!~~", "!~~*", "~", "~*", "!~", "!~*"]
)
_SAFE_KINDS = frozenset(
    [
        A_Expr_Kind.AEXPR_OP,
        A_Expr_Kind.AEXPR_OP_ANY,
        A_Expr_Kind.AEXPR_OP_ALL,
        A_Expr_Kind.AEXPR_IN,
        A_Expr_Kind.AEXPR_LIKE,
        A_Expr_Kind.AEXPR_ILIKE,
        A_Expr_Kind.AEXPR_BETWEEN,
        A_Expr_Kind.AEXPR_NOT_BETWEEN,
        A_Expr_Kind.AEXPR_DISTINCT,
        A_Expr_Kind.AEXPR_NOT_DISTINCT,
    ]
)


@dataclass(frozen=True)
class OrderKey:
    """One column of the walk's order, as the scan reads it (direction already applied)."""

    column: str
    desc: bool
    nulls_first: bool


@dataclass(frozen=True)
class Walk:
    """An ordered index scan under a LIMIT: its table, conditions and order."""

    table: TableName
    alias: str
    condition: str | None  # the scan's Index Cond: the stretch of the index it walks
    filter: str  # the rows it keeps
    order: tuple[OrderKey, ...]


WalkFraction = Callable[[Walk, float], float | None]


class WalkSampler:
    """Measures walks on `conn`; one sample query per distinct walk, remembered."""

    def __init__(self, conn: psycopg.Connection, reltuples: dict[TableName, float]) -> None:
        self.conn = conn
        self.reltuples = reltuples
        self.samples = 0
        self._hits: dict[Walk, tuple[list[bool], float] | None] = {}

    def __call__(self, walk: Walk, wanted: float) -> float | None:
        """Share of the walk read before `wanted` matches are in hand (with a margin);
        None when the walk cannot be sampled (then the caller assumes the worst)."""
        if walk not in self._hits:
            self._hits[walk] = self._sample(walk)
        sampled = self._hits[walk]
        if sampled is None:
            return None
        hits, percent = sampled
        return fraction_read(hits, wanted * percent / 100.0)

    def _sample(self, walk: Walk) -> tuple[list[bool], float] | None:
        condition = _safe_sql(walk.condition, walk) if walk.condition else "true"
        kept = _safe_sql(walk.filter, walk)
        if condition is None or kept is None or not walk.order:
            return None
        rows = self.reltuples.get(walk.table, 0.0)
        percent = 100.0 if rows <= SAMPLE_ROWS else max(100.0 * SAMPLE_ROWS / rows, 0.0001)
        order = sql.SQL(", ").join(
            sql.SQL("{} {} {}").format(
                sql.Identifier(key.column),
                sql.SQL("DESC" if key.desc else "ASC"),
                sql.SQL("NULLS FIRST" if key.nulls_first else "NULLS LAST"),
            )
            for key in walk.order
        )
        query = sql.SQL(
            "SELECT ({kept}) IS TRUE FROM {table} TABLESAMPLE SYSTEM ({percent}) REPEATABLE (1)"
            " WHERE {condition} ORDER BY {order}"
        ).format(
            kept=sql.SQL(kept),
            table=sql.Identifier(walk.table.schema, walk.table.name),
            percent=sql.Literal(percent),
            condition=sql.SQL(condition),
            order=order,
        )
        self.samples += 1
        try:
            with self._savepoint():
                found = self.conn.execute(query).fetchall()
        except psycopg.Error:
            return None  # no privilege, a type we cannot compare: keep the pessimistic bound
        return [bool(row[0]) for row in found], percent

    def _savepoint(self) -> AbstractContextManager[object]:
        # inside the borrowed-HypoPG transaction a failing sample must not abort it
        if self.conn.info.transaction_status == TransactionStatus.IDLE:
            return nullcontext()
        return self.conn.transaction()


def fraction_read(hits: Sequence[bool], wanted: float) -> float | None:
    """Share of an ordered sample read up to the match that stands for `wanted` real matches
    (times SAFETY); None when the sample holds no row of the walk."""
    if not hits:
        return None
    needed = SAFETY * max(1, math.ceil(wanted))
    seen = 0
    for position, hit in enumerate(hits, start=1):
        seen += hit
        if seen >= needed:
            return min(1.0, position / len(hits))
    return 1.0  # too few matches in the sample: they are rare, the walk may read it all


def walk_order(
    keys: Sequence[tuple[str, bool, bool | None]], backward: bool
) -> tuple[OrderKey, ...] | None:
    """The order a scan reads index keys (column, desc, nulls_first) in; None for expressions."""
    order = []
    for column, desc, nulls_first in keys:
        if not column:
            return None
        first = desc if nulls_first is None else nulls_first  # PostgreSQL's default
        if backward:
            desc, first = not desc, not first
        order.append(OrderKey(column, desc, first))
    return tuple(order)


def _safe_sql(text: str, walk: Walk) -> str | None:
    """`text` with qualifiers removed when it only reads this walk's columns with plain
    operators and constants; None otherwise."""
    try:
        parsed = parse_sql(f"SELECT 1 WHERE {text}")
    except ParseError:
        return None
    select = parsed[0].stmt if len(parsed) == 1 else None
    if not isinstance(select, ast.SelectStmt) or select.whereClause is None:
        return None
    names = {walk.alias, walk.table.name}
    if not _safe(select.whereClause, names):
        return None
    return str(RawStream()(select.whereClause))


def _safe(node: Any, names: set[str]) -> bool:
    if isinstance(node, tuple | list):
        return all(_safe(item, names) for item in node)
    if isinstance(node, ast.ColumnRef):
        fields = tuple(node.fields or ())
        if not fields or not all(isinstance(f, ast.String) for f in fields):
            return False
        if len(fields) == 2 and fields[0].sval not in names:
            return False  # a column of another relation (the outer side of a join)
        node.fields = (fields[-1],)  # unqualified in place: `_safe_sql` renders this tree
        return len(fields) <= 2
    if isinstance(node, ast.A_Expr):
        operator = (node.name or (None,))[-1]
        return (
            node.kind in _SAFE_KINDS
            and isinstance(operator, ast.String)
            and operator.sval in _SAFE_OPERATORS
            and _safe(node.lexpr, names)
            and _safe(node.rexpr, names)
        )
    if isinstance(node, ast.BoolExpr):
        return _safe(node.args, names)
    if isinstance(node, ast.NullTest | ast.BooleanTest):
        return _safe(node.arg, names)
    if isinstance(node, ast.TypeCast):
        return _safe(node.arg, names)
    if isinstance(node, ast.A_ArrayExpr):
        return _safe(node.elements or (), names)
    return isinstance(node, ast.A_Const)
