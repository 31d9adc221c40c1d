"""Parameter binding: make each workload statement plannable, with realistic values.

Planning `WHERE buyer_id = $1` with NULL (what Dexter does) gives a constant-false filter
and wrong index choices. `bind` infers the column each `$n` is compared with from the
pglast tree, then fills it with what the application really sends (the log's `parameters:`
lines) or, failing that, with values the planner's own statistics say are realistic
(`pg_stats` most common values and histogram bounds). An equality gets a value of typical
frequency, not the most common one: a heavy seller or a hot product is planned for
differently (a hash join over its thousands of rows) from the thousands of ordinary ones
most calls ask for. `now() - $n` gets a round window (a day, a week, 30 days...) about a
tenth of the column's history. Parameters whose value does not steer
the plan (function arguments, select-list values) get a valid default of their type; LIMIT
gets 50 and OFFSET 0. When a compared column has no statistics, the statement is planned
as a generic plan instead (method "generic": PREPARE with the inferred types).

pg_stat_statements text is repaired where PostgreSQL cannot take it back as written:
`interval $1` (a typed literal's string made `$n`) becomes `$1::interval`, `extract($1 FROM d)`
becomes `extract(epoch FROM d)`, untyped constants in arithmetic are declared numeric, and the
variables of statements run inside PL/pgSQL functions become parameters.

All catalog reads are batched; PREPARE (parameter types) and EXPLAIN (verification) are
sent in multi-statement batches and retried one by one only when a batch fails. Every
statement that cannot be planned comes back as a Skipped with the reason; nothing is fatal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal, TypeVar

import psycopg
from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, CoercionForm, SetOperation
from pglast.parser import ParseError, scan
from psycopg import sql

from prodready.advisor.model import BoundQuery, Skipped, WorkloadQuery
from prodready.advisor.workload import PLANNABLE
from prodready.sqlgen import render

LIMIT_VALUE = "50"
K = TypeVar("K")
SKEW_RATIO = 3.0  # the heaviest value holds 3x the median common value's rows: plan it apart
MIN_BINDING_SHARE = 0.02  # a value standing for less of the traffic is not planned apart
OFFSET_VALUE = "0"
ANY_VALUES = 2  # values in a `col = ANY($n)` array
RECENT_SHARE = 0.1  # `col > now() - $n`: a window of about this share of the column's history
# the windows applications write: an hour, a day, a week, 30 days, a quarter, a year
WINDOWS = (
    (3600.0, "1 hour"), (86400.0, "1 day"), (7 * 86400.0, "7 days"),
    (30 * 86400.0, "30 days"), (90 * 86400.0, "90 days"), (365 * 86400.0, "365 days"),
)  # fmt: skip
BATCH = 50  # statements per multi-statement PREPARE / EXPLAIN round trip

_COMPARISONS = {
    "=": "eq", "<>": "ne", "!=": "ne", "<": "lt", "<=": "lt", ">": "gt", ">=": "gt",
    "~~": "like", "~~*": "like", "!~~": "like", "!~~*": "like",
}  # fmt: skip
_FLIPPED = {"lt": "gt", "gt": "lt"}
_ARITHMETIC = {"+", "-", "*", "/", "%", "^"}
_MISSING_COLUMN = re.compile(r'column "([a-z_][a-z0-9_$]*)" does not exist')
_COMPARISON_KINDS = (A_Expr_Kind.AEXPR_OP, A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE)
_DISTINCT_KINDS = (A_Expr_Kind.AEXPR_DISTINCT, A_Expr_Kind.AEXPR_NOT_DISTINCT)
_BETWEEN_KINDS = (
    A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_NOT_BETWEEN,
    A_Expr_Kind.AEXPR_BETWEEN_SYM, A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
)  # fmt: skip
_NOW_FUNCTIONS = {"now", "statement_timestamp", "transaction_timestamp", "clock_timestamp"}
_TSQUERY_FUNCTIONS = {
    "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery",
}  # fmt: skip
# uses whose value must come from statistics of the compared column (else: generic plan)
_STATS_KINDS = {"eq", "ne", "in", "any", "gt", "lt", "between_lo", "between_hi", "like",
                "age", "tsquery"}  # fmt: skip
_KIND_PRIORITY = ["eq", "in", "any", "ne", "gt", "lt", "between_lo", "between_hi", "like",
                  "age", "tsquery", "expr", "assign", "limit", "offset", "free"]  # fmt: skip
_WORD = re.compile(r"[^\W\d_]{3,}")
_QUOTED = re.compile(r"'(?:[^']|'')*'\Z")


# -- what a statement names ------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A relation as the statement names it; schema '' means resolved through search_path."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(eq=False)
class _Scope:
    """The FROM items one query level sees (None: a subquery, function or CTE)."""

    parent: _Scope | None = None
    aliases: dict[str, _Table | None] = field(default_factory=dict)
    entries: list[_Table | None] = field(default_factory=list)
    ctes: set[str] = field(default_factory=set)
    functions: dict[str, ast.FuncCall] = field(default_factory=dict)

    def chain(self) -> Iterator[_Scope]:
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def is_cte(self, name: str) -> bool:
        return any(name in s.ctes for s in self.chain())

    def function(self, name: str) -> ast.FuncCall | None:
        return next((s.functions[name] for s in self.chain() if name in s.functions), None)


@dataclass(eq=False)
class _Column:
    """A column reference, resolved against the catalog once all relations are known."""

    name: str = ""
    scope: _Scope | None = None
    qualifier: tuple[str, ...] = ()
    table: _Table | None = None  # known target (UPDATE SET, INSERT column list)
    index: int | None = None  # INSERT without a column list: the table's n-th column


@dataclass(eq=False)
class _Use:
    """How one `$n` is used: a comparison with a column, LIMIT, an assignment, or free."""

    param: int
    kind: str
    column: _Column | None = None
    position: int = 0  # place in an IN list
    sign: str = "-"  # `now() - $n` or `now() + $n` for kind "age"
    direction: str = "gt"  # `col > now() - $n` ("gt") or `col < now() - $n` ("lt")
    resolved: tuple[str, str, str] | None = None


class _Analyzer:
    """Walks a statement's tree: the relations it names and how each parameter is used."""

    def __init__(self) -> None:
        self.tables: set[_Table] = set()
        self.uses: list[_Use] = []
        self.params: set[int] = set()
        self.numeric: set[int] = set()  # untyped `$n` in arithmetic, CASE results, sum/avg
        # `$n` in the WHERE of a SELECT with ORDER BY ... LIMIT: a page of one tenant's rows
        self.paged: set[int] = set()
        self._classified: set[int] = set()  # ids of ParamRef nodes given a use already

    # dispatch

    def visit(self, node: Any, scope: _Scope, filtering: bool = False) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                self.visit(item, scope, filtering)
            return
        if not isinstance(node, ast.Node):
            return
        handler = getattr(self, f"_visit_{type(node).__name__}", None)
        if handler is not None:
            handler(node, scope, filtering)
        else:
            self._children(node, scope, filtering)

    def _children(self, node: ast.Node, scope: _Scope, filtering: bool) -> None:
        for name in node:
            value = getattr(node, name)
            if isinstance(value, (ast.Node, list, tuple)):
                self.visit(value, scope, filtering)

    def _use(
        self, param: ast.ParamRef, kind: str, column: _Column | None = None, **kw: Any
    ) -> None:
        self._classified.add(id(param))
        self.params.add(_number(param))
        self.uses.append(_Use(_number(param), kind, column, **kw))

    # statements

    def _visit_SelectStmt(self, node: ast.SelectStmt, parent: _Scope, filtering: bool) -> None:
        scope = _Scope(parent)
        self._with(node.withClause, scope)
        if node.op != SetOperation.SETOP_NONE:
            self.visit([node.larg, node.rarg], scope)
        for item in node.fromClause or ():
            self._from_item(item, scope)
        before = len(self.uses)
        self.visit(node.whereClause, scope, True)
        if _is_page(node):
            self.paged.update(u.param for u in self.uses[before:])
        for part in (node.targetList, node.groupClause, node.havingClause, node.windowClause,
                     node.sortClause, node.distinctClause, node.valuesLists):  # fmt: skip
            self.visit(part, scope)
        self._limit(node.limitCount, "limit", scope)
        self._limit(node.limitOffset, "offset", scope)

    def _visit_InsertStmt(self, node: ast.InsertStmt, parent: _Scope, filtering: bool) -> None:
        scope = _Scope(parent)
        self._with(node.withClause, scope)
        target = self._table(node.relation) if node.relation is not None else None
        names = [rt.name for rt in node.cols or ()]
        select = node.selectStmt
        if isinstance(select, ast.SelectStmt) and select.valuesLists:
            for row in select.valuesLists:
                for i, value in enumerate(row):
                    param = _param_of(value)
                    if param is None:
                        self.visit(value, scope)
                        continue
                    column = _Column(names[i], table=target) if i < len(names) else None
                    if column is None and not names:
                        column = _Column(table=target, index=i)
                    self._use(param, "assign", column)
        else:
            self.visit(select, scope)
        conflict = node.onConflictClause
        if conflict is not None:
            self._assignments(conflict.targetList, target, scope)
            self.visit(conflict.whereClause, scope, True)
        self.visit(_returning(node), scope)

    def _visit_UpdateStmt(self, node: ast.UpdateStmt, parent: _Scope, filtering: bool) -> None:
        scope = _Scope(parent)
        self._with(node.withClause, scope)
        target = self._from_item(node.relation, scope)
        for item in node.fromClause or ():
            self._from_item(item, scope)
        self._assignments(node.targetList, target, scope)
        self.visit(node.whereClause, scope, True)
        self.visit(_returning(node), scope)

    def _visit_DeleteStmt(self, node: ast.DeleteStmt, parent: _Scope, filtering: bool) -> None:
        scope = _Scope(parent)
        self._with(node.withClause, scope)
        self._from_item(node.relation, scope)
        for item in node.usingClause or ():
            self._from_item(item, scope)
        self.visit(node.whereClause, scope, True)
        self.visit(_returning(node), scope)

    def _visit_MergeStmt(self, node: ast.MergeStmt, parent: _Scope, filtering: bool) -> None:
        scope = _Scope(parent)
        self._with(node.withClause, scope)
        self._from_item(node.relation, scope)
        self._from_item(node.sourceRelation, scope)
        self.visit(node.joinCondition, scope, True)
        self.visit(node.mergeWhenClauses, scope)

    def _with(self, clause: ast.WithClause | None, scope: _Scope) -> None:
        if clause is None:
            return
        for cte in clause.ctes or ():
            scope.ctes.add(cte.ctename)
            self.visit(cte.ctequery, scope)

    def _assignments(self, targets: Any, table: _Table | None, scope: _Scope) -> None:
        for target in targets or ():
            param = _param_of(target.val) if isinstance(target, ast.ResTarget) else None
            if param is not None and target.name:
                self._use(param, "assign", _Column(target.name, table=table))
            else:
                self.visit(target, scope)

    def _limit(self, node: Any, kind: str, scope: _Scope) -> None:
        param = _param_of(node)
        if param is not None:
            self._use(param, kind)
        else:
            self.visit(node, scope)

    # FROM items

    def _table(self, node: ast.RangeVar) -> _Table:
        table = _Table(node.schemaname or "", node.relname or "")
        self.tables.add(table)
        return table

    def _from_item(self, item: Any, scope: _Scope) -> _Table | None:
        if isinstance(item, ast.RangeVar):
            entry = None
            if item.schemaname or not scope.is_cte(item.relname or ""):
                entry = self._table(item)
            alias = str((item.alias.aliasname if item.alias else None) or item.relname or "")
            scope.aliases[alias] = entry
            scope.entries.append(entry)
            return entry
        if isinstance(item, ast.JoinExpr):
            self._from_item(item.larg, scope)
            self._from_item(item.rarg, scope)
            self.visit(item.quals, scope, True)
        elif isinstance(item, ast.RangeSubselect):
            self.visit(item.subquery, scope)
            self._opaque(item.alias, scope)
        elif isinstance(item, ast.RangeFunction):
            self.visit(item.functions, scope)
            self._opaque(item.alias, scope)
            calls = [f[0] for f in item.functions or () if f and isinstance(f[0], ast.FuncCall)]
            if item.alias and item.alias.aliasname and len(calls) == 1:
                scope.functions[item.alias.aliasname] = calls[0]
        elif isinstance(item, ast.RangeTableSample):
            self._from_item(item.relation, scope)
            self.visit(item.args, scope)
        else:
            self.visit(item, scope)
            scope.entries.append(None)
        return None

    def _opaque(self, alias: ast.Alias | None, scope: _Scope) -> None:
        if alias is not None and alias.aliasname:
            scope.aliases[alias.aliasname] = None
        scope.entries.append(None)

    # expressions

    def _visit_ParamRef(self, node: ast.ParamRef, scope: _Scope, filtering: bool) -> None:
        self.params.add(_number(node))
        if id(node) not in self._classified:
            self.uses.append(_Use(_number(node), "free"))

    def _visit_A_Expr(self, node: ast.A_Expr, scope: _Scope, filtering: bool) -> None:
        self._classify(node, scope, filtering)
        if node.kind == A_Expr_Kind.AEXPR_OP and node.name and node.name[-1].sval in _ARITHMETIC:
            self._numeric([node.lexpr, node.rexpr])
        self._children(node, scope, filtering)

    def _visit_CaseExpr(self, node: ast.CaseExpr, scope: _Scope, filtering: bool) -> None:
        self._numeric([*(w.result for w in node.args or ()), node.defresult])
        self._children(node, scope, filtering)

    def _visit_FuncCall(self, node: ast.FuncCall, scope: _Scope, filtering: bool) -> None:
        if _funcname(node) in ("sum", "avg"):
            self._numeric(node.args or ())
        self._children(node, scope, filtering)

    def _numeric(self, nodes: Iterable[Any]) -> None:
        self.numeric.update(_number(n) for n in nodes if isinstance(n, ast.ParamRef))

    def _classify(self, node: ast.A_Expr, scope: _Scope, filtering: bool) -> None:
        op = node.name[-1].sval if node.name else ""
        kind = node.kind
        if kind in _COMPARISON_KINDS or kind in _DISTINCT_KINDS:
            use_kind = "eq" if kind in _DISTINCT_KINDS else _COMPARISONS.get(op)
            if use_kind is not None:
                self._comparison(node, use_kind, scope, filtering)
            elif op == "@@":
                self._text_search(node, scope)
            return
        column = _column_of(node.lexpr, scope)
        if kind == A_Expr_Kind.AEXPR_IN and isinstance(node.rexpr, (list, tuple)):
            for position, item in enumerate(node.rexpr):
                param = _param_of(item)
                if param is not None and column is not None:
                    self._use(param, "in", column, position=position)
        elif kind in (A_Expr_Kind.AEXPR_OP_ANY, A_Expr_Kind.AEXPR_OP_ALL):
            param = _param_of(node.rexpr)
            if param is not None and column is not None:
                self._use(param, "any", column)
        elif kind in _BETWEEN_KINDS and isinstance(node.rexpr, (list, tuple)):
            for bound, item in zip(("between_lo", "between_hi"), node.rexpr, strict=False):
                param = _param_of(item)
                if param is not None and column is not None:
                    self._use(param, bound, column)

    def _comparison(self, node: ast.A_Expr, kind: str, scope: _Scope, filtering: bool) -> None:
        for side, other, flipped in (
            (node.rexpr, node.lexpr, False),
            (node.lexpr, node.rexpr, True),
        ):
            param = _param_of(side)
            column = _column_of(other, scope)
            use_kind = _FLIPPED.get(kind, kind) if flipped else kind
            if param is not None and column is not None:
                self._use(param, use_kind, column)
            elif param is not None and filtering and _mentions_column(other):
                self._use(param, "expr")  # lower(email) = $1: no statistics to draw from
            elif column is not None and (shifted := _now_shift(side)) is not None:
                param, sign = shifted
                self._use(param, "age", column, sign=sign, direction=use_kind)

    def _text_search(self, node: ast.A_Expr, scope: _Scope) -> None:
        """`tsv @@ to_tsquery(cfg, $n)`, also through a FROM alias: `FROM to_tsquery($n) q`."""
        for side, other in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
            column = _column_of(side, scope)
            call = other if isinstance(other, ast.FuncCall) else None
            fields = other.fields or () if isinstance(other, ast.ColumnRef) else ()
            if call is None and len(fields) == 1 and isinstance(fields[0], ast.String):
                call = scope.function(str(fields[0].sval))
            if column is None or call is None or not call.args:
                continue
            if _funcname(call) in _TSQUERY_FUNCTIONS:
                param = _param_of(call.args[-1])
                if param is not None:
                    self._use(param, "tsquery", column)
                return


def _is_page(node: ast.SelectStmt) -> bool:
    """One table's rows in a column order, LIMIT n: what an (equality columns, sort key)
    index serves. Not a GROUP BY or DISTINCT, not a sort on an expression or aggregate."""
    sources, order = node.fromClause or (), node.sortClause or ()
    return (
        bool(order)
        and node.limitCount is not None
        and not node.groupClause
        and not node.distinctClause
        and len(sources) == 1
        and isinstance(sources[0], ast.RangeVar)
        and all(isinstance(item.node, ast.ColumnRef) for item in order)
    )


def _number(param: ast.ParamRef) -> int:
    return int(param.number or 0)


def _funcname(call: ast.FuncCall) -> str:
    """A function call's name without its schema (`pg_catalog.extract` -> `extract`)."""
    names = call.funcname or ()
    return str(getattr(names[-1], "sval", "")) if names else ""


def _returning(node: ast.Node) -> Any:
    """RETURNING items (pglast 7/8 call the field returningList, newer parsers returningClause)."""
    return getattr(node, "returningList", None) or getattr(node, "returningClause", None)


def _param_of(node: Any) -> ast.ParamRef | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node if isinstance(node, ast.ParamRef) else None


def _column_of(node: Any, scope: _Scope) -> _Column | None:
    while isinstance(node, (ast.TypeCast, ast.CollateClause)):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    fields = node.fields or ()
    if not fields or not all(isinstance(f, ast.String) for f in fields):
        return None
    names = tuple(f.sval for f in fields)
    return _Column(names[-1], scope=scope, qualifier=names[:-1])


def _mentions_column(node: Any) -> bool:
    if isinstance(node, ast.ColumnRef):
        return True
    if isinstance(node, ast.FuncCall) and node.agg_star:
        return False
    if isinstance(node, (list, tuple)):
        return any(_mentions_column(item) for item in node)
    if isinstance(node, ast.Node):
        if isinstance(node, ast.FuncCall) and node.over is not None:
            return False
        return any(_mentions_column(getattr(node, name)) for name in node)
    return False


def _now_shift(node: Any) -> tuple[ast.ParamRef, str] | None:
    """`now() - $n` (or CURRENT_TIMESTAMP + $n...): the parameter and the sign."""
    if not isinstance(node, ast.A_Expr) or node.kind != A_Expr_Kind.AEXPR_OP:
        return None
    sign = node.name[-1].sval if node.name else ""
    param = _param_of(node.rexpr)
    if sign not in ("-", "+") or param is None:
        return None
    now = node.lexpr
    if isinstance(now, ast.FuncCall) and _funcname(now) in _NOW_FUNCTIONS:
        return param, sign
    if isinstance(now, ast.SQLValueFunction):
        return param, sign
    return None


# -- the statement on its way ----------------------------------------------------------------


@dataclass
class _Statement:
    query: WorkloadQuery
    text: str  # after fixing pg_stat_statements forms
    fixes: list[str]
    analysis: _Analyzer
    params: list[int]  # every `$n` in the text, sorted
    types: list[int] = field(default_factory=list)  # parameter type oids, by number
    declared: dict[int, str] = field(default_factory=dict)  # types PREPARE must be told


@dataclass(frozen=True)
class _Relation:
    schema: str
    name: str
    relkind: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class _Stats:
    mcv: tuple[str, ...]
    histogram: tuple[str, ...]
    elems: tuple[str, ...]
    elem_freqs: tuple[float, ...]
    age_s: tuple[float | None, ...]
    mcf: tuple[float, ...] = ()  # most_common_freqs, one per mcv
    null_frac: float = 0.0
    distinct: float = 0.0  # distinct values in the column (0: unknown)

    def values(self) -> list[str]:
        """Most common first, then histogram bounds from the middle out: realistic, distinct."""
        middle = len(self.histogram) // 2
        order = sorted(range(len(self.histogram)), key=lambda i: abs(i - middle))
        return list(dict.fromkeys([*self.mcv, *(self.histogram[i] for i in order)]))

    def typical(self) -> str | None:
        """The value of the median row: list values from most to least common, and take the
        one where half the rows are reached. On a skewed column (one seller with 900
        products, most with 20) that is an ordinary value, from the histogram (which holds
        the values that are not among the most common); on a category column where one
        value holds most rows (80% delivered), that value."""
        values = self.values()
        if not values:
            return None
        if len(self.mcf) != len(self.mcv):
            return values[0]  # frequencies unknown: the most common value
        half = (1.0 - self.null_frac) / 2
        seen = 0.0
        for value, frequency in zip(self.mcv, self.mcf, strict=True):
            seen += frequency
            if seen >= half:
                return value
        if self.histogram:
            return self.histogram[len(self.histogram) // 2]
        return self.mcv[-1] if self.mcv else values[0]

    def spread(self) -> list[tuple[str, float, str]]:
        """(value, share of rows, label) for the heaviest value, a typical common one and
        an ordinary one, when the column is skewed enough for them to plan differently;
        [] otherwise. Traffic tends to ask for a value as often as it occurs in the data."""
        if len(self.mcf) != len(self.mcv) or not self.mcv:
            return []
        rest = max(0.0, 1.0 - self.null_frac - sum(self.mcf))
        others = self.distinct - len(self.mcv)
        if rest > 0 and others >= 1:
            usual = rest / others  # how common a value outside the common list is
        elif len(self.mcf) > 1:
            usual = sorted(self.mcf)[len(self.mcf) // 2]  # categories: the median one
        else:
            return []
        if self.mcf[0] < SKEW_RATIO * usual:
            return []  # evenly spread values: one binding plans them all alike
        parts = [(self.mcv[0], self.mcf[0], "heaviest")]
        common = sum(self.mcf[1:])
        half, seen = common / 2, 0.0
        for value, frequency in zip(self.mcv[1:], self.mcf[1:], strict=True):
            seen += frequency
            if seen >= half:
                parts.append((value, common, "typical"))
                break
        if rest > 0 and self.histogram:
            parts.append((self.histogram[len(self.histogram) // 2], rest, "ordinary"))
        total = sum(share for _, share, _ in parts)
        kept = [(v, s / total, label) for v, s, label in parts if s / total >= MIN_BINDING_SHARE]
        if len(kept) < 2:
            return []
        total = sum(share for _, share, _ in kept)
        return [(v, s / total, label) for v, s, label in kept]


@dataclass(frozen=True)
class _Type:
    name: str  # as written in a cast
    category: str
    base: str
    first_label: str | None
    text_search_config: str


class _Unbindable(Exception):
    """A parameter has no realistic value: plan the statement generically instead."""


def bind(
    queries: Sequence[WorkloadQuery], conn: psycopg.Connection
) -> tuple[list[BoundQuery], list[Skipped]]:
    """Make each statement plannable: realistic values for `$n`, or a generic plan.

    `conn` is an open (read-only) session on the target database; statements that cannot be
    planned (no parse, DDL, missing or temporary tables, PREPARE/EXPLAIN errors) are Skipped.
    """
    skipped: dict[int, Skipped] = {}
    statements: dict[int, _Statement] = {}
    for i, query in enumerate(queries):
        result = _analyse(query)
        if isinstance(result, Skipped):
            skipped[i] = result
        else:
            statements[i] = result

    relations = _resolve_relations(
        conn, {t for s in statements.values() for t in s.analysis.tables}
    )
    for i, statement in list(statements.items()):
        reason = _relation_problem(statement, relations)
        if reason is not None:
            skipped[i] = Skipped(statement.query.text, reason)
            del statements[i]

    for i, error in _prepare_all(conn, statements).items():
        skipped[i] = Skipped(statements.pop(i).query.text, _prepare_failure(error))

    types = _read_types(conn, {oid for s in statements.values() for oid in s.types})
    stats = _read_stats(conn, _stats_wanted(statements.values(), relations))
    bindings = {i: _bind_one(s, relations, stats, types) for i, s in statements.items()}
    bound = {i: found[0] for i, found in bindings.items()}

    for i, error in _explain_all(conn, bound).items():
        statement = statements[i]
        bindings[i] = []
        if statement.params:
            bound[i] = _generic(statement, types, f"bound values did not plan ({error})")
        else:
            skipped[i] = Skipped(statement.query.text, f"cannot be planned: {error}")
            del bound[i]
    others = {(i, k): b for i, found in bindings.items() for k, b in enumerate(found) if k}
    refused = _explain_all(conn, others)
    every: list[BoundQuery] = []
    for i in sorted(bound):
        kept = [bound[i], *(b for k, b in enumerate(bindings[i]) if k and (i, k) not in refused)]
        every.extend(_reshared(kept))
    return every, [skipped[i] for i in sorted(skipped)]


def _reshared(bindings: list[BoundQuery]) -> list[BoundQuery]:
    """Shares that add up to one again after the planner refused some bindings."""
    if len(bindings) == 1:
        return [replace(bindings[0], share=1.0, binding=None)]
    total = sum(b.share for b in bindings)
    return [replace(b, share=b.share / total) for b in bindings]


# -- step 1: parse, fix, analyse -------------------------------------------------------------


def _analyse(query: WorkloadQuery) -> _Statement | Skipped:
    text = query.text.strip().rstrip(";").strip()
    try:
        raws = parse_sql(text)
    except ParseError as exc:
        return Skipped(query.text, f"does not parse: {exc}")
    if len(raws) != 1:
        return Skipped(query.text, f"holds {len(raws)} statements; give them one by one")
    node = raws[0].stmt
    kind = type(node).__name__
    if kind not in PLANNABLE:
        return Skipped(query.text, f"not a query ({_command(text)}): only DML is planned")
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        return Skipped(query.text, "SELECT INTO creates a table: only queries are planned")
    fixed, fixes, declared = _fix(text, node)
    if fixes:
        node = parse_sql(fixed)[0].stmt
    analysis = _Analyzer()
    analysis.visit(node, _Scope())
    params = sorted({int(t.text[1:]) for t in _param_tokens(fixed)})
    return _Statement(query, fixed, fixes, analysis, params, declared=declared)


def fix_normalised(text: str, node: ast.Node | None = None) -> tuple[str, list[str]]:
    """Rewrite pg_stat_statements forms PostgreSQL cannot parse back: `interval $1`.

    pg_stat_statements replaces the string of a typed literal (`interval '1 day'`,
    `date '2024-01-01'`, `timestamp with time zone '...'`) by `$n`; `type $n` is not SQL,
    `$n::type` is. Returns the text and a description of each fix.
    """
    fixed, fixes, _ = _fix(text, node)
    return fixed, fixes


def _fix(text: str, node: ast.Node | None) -> tuple[str, list[str], dict[int, str]]:
    """The fixed text, what was fixed, and types to declare for parameters a fix removed.

    `extract(year FROM d)` becomes `extract($1 FROM d)`, which is not SQL either: the field
    does not change the plan, so it becomes `epoch` and `$1` is declared text in PREPARE.
    """
    if node is None:
        node = parse_sql(text)[0].stmt
    spans: list[tuple[int, int, str]] = []
    declared: dict[int, str] = {}
    described: dict[int, str] = {}
    for kind, start, param_start, number in _unparseable_params(node):
        end = param_start + len(f"${number}")
        if kind == "cast":
            typename = " ".join(text[start:param_start].split())
            spans.append((start, end, f"${number}::{typename}"))
        else:
            spans.append((start, end, "epoch"))
            declared[number] = "text"
            described[start] = f"extract(${number} FROM -> extract(epoch FROM"
    fixed = text
    for start, end, replacement in sorted(spans, reverse=True):
        fixed = fixed[:start] + replacement + fixed[end:]
    fixes = [
        described.get(s) or f"{' '.join(text[s:e].split())} -> {r}" for s, e, r in sorted(spans)
    ]
    return fixed, fixes, declared


def _unparseable_params(node: Any) -> Iterator[tuple[str, int, int, int]]:
    """("cast", type start, `$n` start, n) for `type $n`; ("extract", ...) for `extract($n FROM`."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _unparseable_params(item)
        return
    if not isinstance(node, ast.Node):
        return
    if isinstance(node, ast.FuncCall) and _funcname(node) == "extract":
        first = node.args[0] if node.args else None
        if node.funcformat == CoercionForm.COERCE_SQL_SYNTAX and isinstance(first, ast.ParamRef):
            location = first.location or 0
            yield "extract", location, location, _number(first)
    if isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.ParamRef):
        type_start = node.typeName.location if node.typeName is not None else None
        param_start = node.arg.location
        if type_start is not None and param_start is not None and 0 <= type_start < param_start:
            yield "cast", type_start, param_start, _number(node.arg)
    for name in node:
        value = getattr(node, name)
        if isinstance(value, (ast.Node, list, tuple)):
            yield from _unparseable_params(value)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int  # exclusive
    name: str
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    return [
        _Token(t.start, t.end + 1, t.name, t.kind, text[t.start : t.end + 1]) for t in scan(text)
    ]


def _param_tokens(text: str) -> list[_Token]:
    return [t for t in _tokens(text) if t.name == "PARAM"]


def _command(text: str) -> str:
    """The command's leading keywords as a person reads them: CREATE INDEX, VACUUM, BEGIN."""
    words: list[str] = []
    for token in _tokens(text):
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if token.kind == "NO_KEYWORD" or len(words) == 2:
            break
        words.append(token.text.upper())
    return " ".join(words) or "utility"


# -- step 2: relations -----------------------------------------------------------------------


def _resolve_relations(conn: psycopg.Connection, tables: set[_Table]) -> dict[_Table, Any]:
    """Each named relation: a _Relation, "temporary" (another session's temp table) or None."""
    if not tables:
        return {}
    ordered = sorted(tables, key=lambda t: (t.schema, t.name))
    rows = conn.execute(
        _sql("bind_relations"),
        {"schemas": [t.schema for t in ordered], "names": [t.name for t in ordered]},
    ).fetchall()
    resolved: dict[_Table, Any] = {}
    for schema, name, real_schema, relkind, persistence, columns, temporary in rows:
        table = _Table(schema, name)
        if real_schema is None:
            resolved[table] = "temporary" if temporary else None
        elif persistence == "t":
            resolved[table] = "temporary"
        else:
            resolved[table] = _Relation(real_schema, name, relkind, tuple(columns))
    return resolved


def _relation_problem(statement: _Statement, relations: dict[_Table, Any]) -> str | None:
    for table in sorted(statement.analysis.tables, key=str):
        relation = relations.get(table)
        if relation == "temporary":
            return f'uses temporary table "{table}", which exists only in its own session'
        if relation is None:
            where = "" if table.schema else " (not found in the search_path)"
            return f'references table "{table}", which does not exist{where}'
    return None


# -- step 3: parameter types through PREPARE -------------------------------------------------


def _prepare_all(conn: psycopg.Connection, statements: dict[int, _Statement]) -> dict[int, str]:
    """PREPARE every `$n` statement to learn its parameter types; returns the failures."""
    pending = {i: s for i, s in statements.items() if s.params}
    names = {i: f"prodready_bind_{i}" for i in pending}
    errors: dict[int, str] = {}
    _deallocate(conn, list(names.values()))  # left over by an interrupted run on this session
    try:
        for chunk in _chunks(list(pending)):
            script = [_prepare_sql(names[i], pending[i]) for i in chunk]
            if _run_batch(conn, script) is None:
                continue
            existing = _prepared_names(conn)
            for i in chunk:
                if names[i] not in existing:
                    error, statements[i] = _prepare_one(conn, names[i], pending[i])
                    pending[i] = statements[i]
                    if error is not None:
                        errors[i] = error
        if len(errors) < len(pending):
            rows = conn.execute(
                "SELECT /* prodready */ name, parameter_types::oid[]::bigint[]"
                " FROM pg_prepared_statements WHERE name = ANY(%s)",
                ([names[i] for i in pending if i not in errors],),
            ).fetchall()
            by_name = {name: [int(oid) for oid in oids] for name, oids in rows}
            for i in pending:
                if i not in errors:
                    pending[i].types = by_name.get(names[i], [])
    finally:
        _deallocate(conn, [names[i] for i in pending if i not in errors])
    return errors


def _prepare_failure(error: str) -> str:
    """PREPARE's error; say so when the cause is a constant pg_stat_statements made `$n`."""
    reason = f"cannot be prepared: {error}"
    if _lost_type(error) or "could not determine data type of parameter" in error:
        reason += " (a constant replaced by $n lost its type)"
    return reason


def _prepare_one(
    conn: psycopg.Connection, name: str, statement: _Statement
) -> tuple[str | None, _Statement]:
    """PREPARE one statement, retrying the repairs its error calls for (up to three).

    The first error is the one reported when no repair works.
    """
    first = error = _run_batch(conn, [_prepare_sql(name, statement)])
    for _ in range(3):
        if error is None:
            return None, statement
        repaired = _numeric_constants(statement, error) or _variables_as_params(statement, error)
        if repaired is None:
            break
        statement, error = repaired, _run_batch(conn, [_prepare_sql(name, repaired)])
    return (first, statement) if error is not None else (None, statement)


def _numeric_constants(statement: _Statement, error: str) -> _Statement | None:
    """pg_stat_statements writes `0.06 - 0.01` as `$1 - $2`, and `THEN 1 ELSE 0` with `$n`:
    types PostgreSQL cannot resolve. Those constants were numbers: declare them numeric.
    """
    hints = statement.analysis.numeric - set(statement.declared)
    if not hints or not _lost_type(error):
        return None
    numbered = ", ".join(f"${n}" for n in sorted(hints))
    return replace(
        statement,
        declared={**statement.declared, **dict.fromkeys(hints, "numeric")},
        fixes=[*statement.fixes, f"declared {numbered} numeric"],
    )


def _variables_as_params(statement: _Statement, error: str) -> _Statement | None:
    """A statement run inside a PL/pgSQL function names the function's variables
    (`WHERE id = product_id`): each is a parameter of the statement, so make it one.

    Only when the `$n` numbering skips a number, the mark pg_stat_statements leaves on
    statements run inside functions; otherwise a missing column is just missing.
    """
    match = _MISSING_COLUMN.match(error)
    used = {*statement.params, *statement.declared}
    if match is None or len(used) == max(used, default=0):
        # no number skipped: nothing says this ran in a function; the column is really missing
        return None
    name = match.group(1)
    spots = sorted(_bare_column_refs(parse_sql(statement.text)[0].stmt, name, statement.text))
    if not spots:
        return None
    # inside a function its variables are $1..$k: pg_stat_statements numbers constants after
    # them, so the first number missing from the text is likely this variable's own
    number = next(n for n in range(1, len(used) + 2) if n not in used)
    text = statement.text
    for spot in reversed(spots):
        text = f"{text[:spot]}${number}{text[spot + len(name) :]}"
    result = _analyse(replace(statement.query, text=text))
    if isinstance(result, Skipped):
        return None
    return replace(
        result,
        query=statement.query,
        fixes=[*statement.fixes, *result.fixes, f"function variable {name} -> ${number}"],
        declared={**statement.declared, **result.declared},
    )


def _bare_column_refs(node: Any, name: str, text: str) -> Iterator[int]:
    """Where an unqualified, unquoted column reference `name` is written."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _bare_column_refs(item, name, text)
        return
    if not isinstance(node, ast.Node):
        return
    if isinstance(node, ast.ColumnRef) and node.location is not None:
        fields = node.fields or ()
        written = text[node.location : node.location + len(name)]
        if (
            len(fields) == 1
            and isinstance(fields[0], ast.String)
            and fields[0].sval == name
            and written.lower() == name
        ):
            yield node.location
    for attribute in node:
        value = getattr(node, attribute)
        if isinstance(value, (ast.Node, list, tuple)):
            yield from _bare_column_refs(value, name, text)


def _lost_type(error: str) -> bool:
    return (
        "(unknown" in error
        or "unknown -" in error
        or "unknown +" in error
        or ("does not exist" in error and "(text)" in error)
    )


def _prepare_sql(name: str, statement: _Statement) -> str:
    head = sql.SQL("PREPARE {} ").format(sql.Identifier(name))
    count = max([*statement.params, *statement.declared], default=0)
    if statement.declared or len(statement.params) < count:
        # unknown: PostgreSQL infers it; a number the text skips is unused: any type will do
        types = [
            statement.declared.get(n, "unknown" if n in statement.params else "text")
            for n in range(1, count + 1)
        ]
        head += sql.SQL("(") + sql.SQL(", ").join(map(sql.SQL, types)) + sql.SQL(") ")
    return render(head + sql.SQL("AS ")) + statement.text


def _prepared_names(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT /* prodready */ name FROM pg_prepared_statements").fetchall()
    return {str(row[0]) for row in rows}


def _deallocate(conn: psycopg.Connection, names: list[str]) -> None:
    existing = _prepared_names(conn) if names else set()
    for chunk in _chunks([n for n in names if n in existing]):
        _run_batch(
            conn, [render(sql.SQL("DEALLOCATE {}").format(sql.Identifier(n))) for n in chunk]
        )


def _read_types(conn: psycopg.Connection, oids: set[int]) -> dict[int, _Type]:
    if not oids:
        return {}
    rows = conn.execute(_sql("bind_types"), {"oids": sorted(oids)}).fetchall()
    return {
        int(oid): _Type(name, cat, base, label, cfg) for oid, name, cat, base, label, cfg in rows
    }


# -- step 4: statistics ----------------------------------------------------------------------


def _stats_wanted(
    statements: Iterable[_Statement], relations: dict[_Table, Any]
) -> set[tuple[str, str, str]]:
    wanted = set()
    for statement in statements:
        for use in statement.analysis.uses:
            if use.column is not None:
                use.resolved = _resolve_column(use.column, relations)
                if use.resolved is not None:
                    wanted.add(use.resolved)
    return wanted


def _resolve_column(column: _Column, relations: dict[_Table, Any]) -> tuple[str, str, str] | None:
    """(schema, table, column) of a reference, the way PostgreSQL resolves names; None if unsure."""
    if column.table is not None:
        relation = relations.get(column.table)
        if not isinstance(relation, _Relation):
            return None
        name = column.name
        if column.index is not None:
            if column.index >= len(relation.columns):
                return None
            name = relation.columns[column.index]
        return (relation.schema, relation.name, name) if name in relation.columns else None
    if column.scope is None:
        return None
    if column.qualifier:
        entry = _qualified_entry(column.qualifier, column.scope, relations)
        relation = relations.get(entry) if entry is not None else None
        if isinstance(relation, _Relation) and column.name in relation.columns:
            return relation.schema, relation.name, column.name
        return None
    for scope in column.scope.chain():
        found = [
            relations[e]
            for e in scope.entries
            if e is not None
            and isinstance(relations.get(e), _Relation)
            and column.name in relations[e].columns
        ]
        if len(found) > 1 or (not found and None in scope.entries):
            return None  # ambiguous, or maybe a column of a subquery / function
        if found:
            return found[0].schema, found[0].name, column.name
    return None


def _qualified_entry(
    qualifier: tuple[str, ...], scope: _Scope, relations: dict[_Table, Any]
) -> _Table | None:
    if len(qualifier) == 1:
        for level in scope.chain():
            if qualifier[0] in level.aliases:
                return level.aliases[qualifier[0]]
        return None
    schema, name = qualifier[-2], qualifier[-1]
    for level in scope.chain():
        for entry in level.entries:
            relation = relations.get(entry) if entry is not None else None
            if isinstance(relation, _Relation) and (relation.schema, relation.name) == (
                schema,
                name,
            ):
                return entry
    return None


def _read_stats(
    conn: psycopg.Connection, wanted: set[tuple[str, str, str]]
) -> dict[tuple[str, str, str], _Stats]:
    if not wanted:
        return {}
    ordered = sorted(wanted)
    rows = conn.execute(
        _sql("bind_stats"),
        {
            "schemas": [w[0] for w in ordered],
            "tables": [w[1] for w in ordered],
            "columns": [w[2] for w in ordered],
        },
    ).fetchall()
    return {
        (schema, table, column): _Stats(
            tuple(mcv or ()),
            tuple(hist or ()),
            tuple(elems or ()),
            tuple(freqs or ()),
            tuple(age or ()),
            tuple(mcf or ()),
            float(null_frac or 0.0),
            float(distinct or 0.0),
        )
        for schema, table, column, mcv, hist, elems, freqs, age, mcf, null_frac, distinct in rows
    }


# -- step 5: values --------------------------------------------------------------------------


def _bind_one(
    statement: _Statement,
    relations: dict[_Table, Any],
    stats: dict[tuple[str, str, str], _Stats],
    types: dict[int, _Type],
) -> list[BoundQuery]:
    """The statement's bindings: one, or light/typical/heavy values of a skewed column."""
    query = statement.query
    if not statement.params:
        return _literal_variants(statement)
    param_types = _param_types(statement, types)
    if param_types is None:
        return [_generic(statement, types, "a parameter type is unknown")]
    sample = _sample(query.param_samples, len(statement.types))
    values: dict[int, _Sql] = {}
    notes: list[str] = []
    from_log = 0
    try:
        for number in statement.params:
            ptype = types[statement.types[number - 1]]
            logged = sample[number - 1] if sample and number <= len(sample) else None
            if logged is not None:
                values[number] = _cast(_literal(logged), ptype)
                from_log += 1
                continue
            value, how = _value(number, statement, stats, ptype)
            values[number] = value
            notes.append(f"${number} {how}")
    except _Unbindable as exc:
        return [_generic(statement, types, str(exc))]
    method: Literal["log", "stats"] = "log" if from_log else "stats"
    if from_log:
        notes.insert(0, f"{from_log} value(s) from the log")
    note = "; ".join([*notes, *filter(None, [_fixes_note(statement)])])
    bound = BoundQuery(
        query, _substitute(statement.text, values), method, tuple(param_types), note or None
    )
    spread = None if from_log else _spread_param(statement, stats)
    if spread is None:
        return [bound]
    number, column, parts = spread
    ptype = types[statement.types[number - 1]]
    return [
        replace(
            bound,
            sql=_substitute(statement.text, {**values, number: _cast(sql.Literal(value), ptype)}),
            share=share,
            binding=f"{'.'.join(column[1:])} = {_shown(value)} ({label}, {share:.0%} of calls)",
        )
        for value, share, label in parts
    ]


def _literal_variants(statement: _Statement) -> list[BoundQuery]:
    """A literal statement, or each literal form of it the workload holds, with its share."""
    query, note = statement.query, _fixes_note(statement)
    if not query.variants:
        return [BoundQuery(query, statement.text, "literal", note=note)]
    total = sum(calls for _, calls in query.variants) or 1.0
    return [
        BoundQuery(
            query,
            statement.text if position == 0 else text.strip().rstrip(";").strip(),
            "literal",
            note=note,
            share=calls / total,
            binding=f"{calls / total:.0%} of calls",
        )
        for position, (text, calls) in enumerate(query.variants)
    ]


def _spread_param(
    statement: _Statement, stats: dict[tuple[str, str, str], _Stats]
) -> tuple[int, tuple[str, str, str], list[tuple[str, float, str]]] | None:
    """The `col = $n` to plan for several values, with them: of the skewed columns, one
    holding identifiers (tenants, owners: values beyond its most common ones) before one
    holding categories, then the heaviest most common value."""
    found = []
    for use in statement.analysis.uses:
        column = use.resolved
        if use.kind != "eq" or column is None or column not in stats:
            continue
        parts = stats[column].spread()
        if parts:
            identifiers = any(label == "ordinary" for _, _, label in parts)
            found.append((not identifiers, -parts[0][1], use.param, column, parts))
    if not found:
        return None
    _, _, number, column, parts = min(found)
    return number, column, parts


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def _param_types(statement: _Statement, types: dict[int, _Type]) -> list[str] | None:
    if len(statement.types) < max(statement.params):
        return None
    if any(oid not in types for oid in statement.types):
        return None
    return [types[oid].name for oid in statement.types]


def _sample(
    samples: tuple[tuple[str | None, ...], ...], count: int
) -> tuple[str | None, ...] | None:
    """The most common observed tuple, preferring ones without NULLs (never bound literally)."""
    if not samples:
        return None
    tally = Counter(s for s in samples if len(s) >= count)
    complete = [s for s, _ in tally.most_common() if all(v is not None for v in s)]
    if complete:
        return complete[0]
    return tally.most_common(1)[0][0] if tally else None


def _value(
    number: int, statement: _Statement, stats: dict[tuple[str, str, str], _Stats], ptype: _Type
) -> tuple[_Sql, str]:
    """SQL for one parameter and how it was chosen; raises _Unbindable for a generic plan."""
    uses = [u for u in statement.analysis.uses if u.param == number]
    uses.sort(key=lambda u: _KIND_PRIORITY.index(u.kind))
    use = uses[0] if uses else _Use(number, "free")
    if use.kind == "limit":
        return _Sql(LIMIT_VALUE), f"LIMIT {LIMIT_VALUE}"
    if use.kind == "offset":
        return _Sql(OFFSET_VALUE), f"OFFSET {OFFSET_VALUE}"
    if use.kind == "expr":
        raise _Unbindable(f"${number} is compared with an expression, which has no statistics")
    if use.kind in _STATS_KINDS:
        return _from_column(use, statement, stats, ptype)
    column = use.resolved
    values = stats[column].values() if column is not None and column in stats else []
    if use.kind == "assign" and column is not None and values:
        return _cast(sql.Literal(values[0]), ptype), f"value of {'.'.join(column)}"
    return _free(number, ptype)


def _from_column(
    use: _Use, statement: _Statement, stats: dict[tuple[str, str, str], _Stats], ptype: _Type
) -> tuple[_Sql, str]:
    """A value for a parameter compared with a column, from that column's statistics."""
    column = use.resolved
    if column is None:
        raise _Unbindable(f"cannot tell which column ${use.param} is compared with")
    if use.kind in ("gt", "lt") and _window(statement, use):
        kind = "between_lo" if use.kind == "gt" else "between_hi"
        use = _Use(use.param, kind, resolved=column)
    where = ".".join(column)
    if use.kind == "eq" and use.param in statement.analysis.paged and column in stats:
        heavy = _heaviest(stats[column], ptype)
        if heavy is not None:
            return heavy
    picked = _from_stats(use, stats[column], ptype) if column in stats else None
    if picked is None:
        raise _Unbindable(f"no statistics for {where} (${use.param}); run ANALYZE")
    return picked, f"{use.kind} {where}"


def _heaviest(stats: _Stats, ptype: _Type) -> tuple[_Sql, str] | None:
    """For a page (`col = $n ORDER BY k LIMIT m`) the most common value: the heavy tenant's
    page is where a missing (col, k) index costs a sort of all its rows, and an index that
    serves it serves every lighter value too. The median value would hide that."""
    if not stats.mcv or len(stats.mcf) != len(stats.mcv):
        return None
    share = stats.mcf[0]
    how = f"eq, the most common value ({share:.1%} of rows): the heaviest page"
    return _cast(sql.Literal(stats.mcv[0]), ptype), how


def _free(number: int, ptype: _Type) -> tuple[_Sql, str]:
    """A parameter whose value does not steer the plan: any valid value of its type."""
    default = _default(ptype)
    if default is None:
        raise _Unbindable(f"${number} has type {ptype.name}, with no default value")
    return default, f"default {ptype.name}"


def _window(statement: _Statement, use: _Use) -> bool:
    """`col >= $1 AND col < $2`: both ends of one range, bound like BETWEEN (never inverted)."""
    other = "lt" if use.kind == "gt" else "gt"
    return any(
        u.kind == other and u.resolved == use.resolved and u.param != use.param
        for u in statement.analysis.uses
    )


def _from_stats(use: _Use, stats: _Stats, ptype: _Type) -> _Sql | None:
    values = stats.values()
    hist = stats.histogram
    kind = use.kind
    if kind == "in":
        return _cast(sql.Literal(values[use.position % len(values)]), ptype) if values else None
    if kind == "any" and ptype.category == "A":
        return _cast(sql.Literal(_array_literal(values[:ANY_VALUES])), ptype) if values else None
    if kind in ("eq", "ne"):
        typical = stats.typical()
        return _cast(sql.Literal(typical), ptype) if typical is not None else None
    if kind == "any":
        return _cast(sql.Literal(values[0]), ptype) if values else None
    if kind in ("gt", "lt", "between_lo", "between_hi"):
        fraction = {"gt": 0.9, "lt": 0.1, "between_lo": 0.45, "between_hi": 0.55}[kind]
        chosen = _at(hist, fraction) if hist else (values[0] if values else None)
        return _cast(sql.Literal(chosen), ptype) if chosen is not None else None
    if kind == "like":
        return _cast(sql.Literal(_pattern(values[0])), ptype) if values else None
    if kind == "age":
        return _age(use, stats, ptype)
    if kind == "tsquery" and stats.elems:
        best = max(range(len(stats.elems)), key=lambda i: _freq(stats, i))
        return _cast(sql.Literal(stats.elems[best]), ptype)
    return None


def _age(use: _Use, stats: _Stats, ptype: _Type) -> _Sql | None:
    """`col >= now() - $n`: a round window of about a tenth of the column's history (`<`:
    nine tenths, what an archive or purge keeps), as applications write them.

    A share of the rows would be wrong on a table whose recent rows dominate (a growing
    app): its newest tenth of orders is three days, while its dashboards ask for 30.
    """
    ages = [a for a in stats.age_s if a is not None]
    if not ages or ages[0] <= 0:
        return None
    # ages run oldest to newest: the first is how far back the data goes
    share = RECENT_SHARE if use.direction == "gt" else 1.0 - RECENT_SHARE
    seconds, text = _round_window(share * ages[0])
    if use.sign == "+":
        seconds, text = -seconds, f"-{text}"
    if ptype.category == "N":
        return _cast(sql.Literal(str(round(seconds / 86400))), ptype)
    if ptype.base != "interval":
        return None
    return _cast(sql.Literal(text), ptype)


def _round_window(seconds: float) -> tuple[float, str]:
    """The longest common window not longer than `seconds` (raw seconds below an hour)."""
    fitting = [w for w in WINDOWS if w[0] <= seconds]
    if not fitting:
        return float(round(seconds)), f"{round(seconds)} seconds"
    return fitting[-1]


def _default(ptype: _Type) -> _Sql | None:
    """A valid value of a type, for parameters whose value does not steer the plan."""
    base, category = ptype.base, ptype.category
    if category == "A":
        return _cast(sql.Literal("{}"), ptype)
    if category == "E" and ptype.first_label is not None:
        return _cast(sql.Literal(ptype.first_label), ptype)
    if base == "regconfig":
        return _cast(sql.Literal(ptype.text_search_config), ptype)
    expressions = {"date": "CURRENT_DATE", "timestamptz": "now()", "timestamp": "LOCALTIMESTAMP"}
    if base in expressions:
        return _Sql(expressions[base])
    literals = {
        "N": "1", "S": "", "B": "true", "T": "1 day",
        "I": "127.0.0.1", "R": "empty",
    }  # fmt: skip
    by_base = {
        "uuid": "00000000-0000-0000-0000-000000000000", "json": "{}", "jsonb": "{}",
        "time": "12:00", "timetz": "12:00+00", "bytea": "\\x", "tsvector": "",
        "tsquery": "x", "bit": "0", "varbit": "0",
    }  # fmt: skip
    if base in by_base:
        return _cast(sql.Literal(by_base[base]), ptype)
    if category in literals and not base.startswith("reg"):
        return _cast(sql.Literal(literals[category]), ptype)
    return None


def _at(values: Sequence[str], fraction: float) -> str:
    return values[round(fraction * (len(values) - 1))]


def _freq(stats: _Stats, i: int) -> float:
    return stats.elem_freqs[i] if i < len(stats.elem_freqs) else 0.0


def _pattern(value: str) -> str:
    """A LIKE pattern a search box sends: a word of a real value, matched anywhere."""
    match = _WORD.search(value)
    return f"%{match.group(0)}%" if match else "%"


def _array_literal(values: Sequence[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _literal(logged: str) -> sql.Composable:
    """A value from a log's parameters line: already a quoted SQL literal."""
    return sql.SQL(logged) if _QUOTED.match(logged) else sql.Literal(logged)


@dataclass(frozen=True)
class _Sql:
    """A parameter's value: SQL text, and the type to cast it to (unless the text casts)."""

    text: str
    cast: str | None = None

    def render(self, cast_follows: bool) -> str:
        return f"{self.text}::{self.cast}" if self.cast and not cast_follows else self.text


def _cast(value: sql.Composable, ptype: _Type) -> _Sql:
    return _Sql(render(value), ptype.name)


def _substitute(text: str, values: dict[int, _Sql]) -> str:
    """Replace each `$n` token (never one inside a string or comment) by its SQL value.

    `$1::order_status[]` keeps its own cast: the value is then written without ours.
    """
    tokens = _tokens(text)
    out, last = [], 0
    for i, token in enumerate(tokens):
        if token.name != "PARAM":
            continue
        following = tokens[i + 1].name if i + 1 < len(tokens) else ""
        value = values[int(token.text[1:])].render(cast_follows=following == "TYPECAST")
        if following in ("ASCII_91", "ASCII_46"):  # `$1[1]`, `$1.field`
            value = f"({value})"
        out += [text[last : token.start], value]
        last = token.end
    out.append(text[last:])
    return "".join(out)


def _generic(statement: _Statement, types: dict[int, _Type], reason: str) -> BoundQuery:
    names = tuple(types[oid].name if oid in types else "unknown" for oid in statement.types)
    note = "; ".join(filter(None, [f"generic plan: {reason}", _fixes_note(statement)]))
    return BoundQuery(statement.query, statement.text, "generic", names, note)


def _fixes_note(statement: _Statement) -> str | None:
    return f"rewrote {', '.join(statement.fixes)}" if statement.fixes else None


# -- step 6: verify with EXPLAIN -------------------------------------------------------------


def _explain_all(conn: psycopg.Connection, bound: Mapping[K, BoundQuery]) -> dict[K, str]:
    """EXPLAIN every non-generic bound statement; returns the ones the planner refused."""
    pending = [i for i, b in bound.items() if b.method != "generic"]
    errors: dict[K, str] = {}
    for chunk in _chunks(pending):
        if _run_batch(conn, [f"EXPLAIN {bound[i].sql}" for i in chunk]) is None:
            continue
        for i in chunk:
            error = _run_batch(conn, [f"EXPLAIN {bound[i].sql}"])
            if error is not None:
                errors[i] = error
    return errors


# -- helpers ---------------------------------------------------------------------------------


def _run_batch(conn: psycopg.Connection, statements: list[str]) -> str | None:
    """Send statements in one round trip; the first error's first line, or None.

    A newline before each `;` ends a trailing `--` comment of the statement before it.
    """
    if not statements:
        return None
    script = "\n;\n".join(statements)
    try:
        with conn.transaction():
            conn.execute(script.encode())  # bytes: no placeholders, % stays literal
    except psycopg.Error as exc:
        return _first_line(exc)
    return None


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield list(items[start : start + BATCH])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sql(name: str) -> str:
    return resources.files("prodready.advisor.sql").joinpath(f"{name}.sql").read_text()
