"""Query analysis with pglast: per table occurrence, the columns a statement filters, joins,
sorts, groups and reads, resolved through aliases, CTEs and subqueries.

Only what an index can serve is recorded; anything unclear is left out rather than guessed,
so a candidate is never built on a misread column. `analyze()` raises `AnalysisError` for
statements that do not parse or are not queries.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pglast import ast, parse_sql
from pglast.enums import (
    A_Expr_Kind,
    BoolExprType,
    BoolTestType,
    JoinType,
    NullTestType,
    SetOperation,
    SortByDir,
    SortByNulls,
    SubLinkType,
)
from pglast.parser import ParseError
from pglast.stream import RawStream

from prodready.db.snapshot import qualify

RANGE_OPS = frozenset({"<", ">", "<=", ">="})
FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "@>": "<@", "<@": "@>"}
JSON_OPS = frozenset({"@>", "?", "?|", "?&", "@?", "@@@"})


class AnalysisError(Exception):
    """A statement the advisor cannot analyse (syntax error, utility statement, ...)."""


@dataclass(frozen=True, order=True)
class TableName:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)


class Catalog(Protocol):
    """What analysis needs from the database: name resolution and column lists."""

    def resolve(self, schema: str | None, name: str) -> tuple[TableName, str] | None:
        """(table, relkind) for a relation name as the search path resolves it, or None."""
        ...

    def columns(self, table: TableName) -> frozenset[str]: ...


@dataclass
class SimpleCatalog:
    """A catalog from plain dicts: tests build it by hand, the engine from the database."""

    relations: dict[TableName, tuple[str, frozenset[str]]]  # -> (relkind, columns)
    search_path: tuple[str, ...] = ("public",)

    def resolve(self, schema: str | None, name: str) -> tuple[TableName, str] | None:
        for candidate in (schema,) if schema else self.search_path:
            table = TableName(candidate, name)
            found = self.relations.get(table)
            if found is not None:
                return table, found[0]
        return None

    def columns(self, table: TableName) -> frozenset[str]:
        found = self.relations.get(table)
        return found[1] if found else frozenset()


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY item: a column (or expression text) and its direction."""

    expr: str
    column: str | None
    desc: bool = False
    nulls_first: bool | None = None  # None: the direction's default


@dataclass(frozen=True)
class Constant:
    """A literal conjunct such as `status = 'pending'` or `deleted_at IS NULL` (partial index)."""

    column: str
    sql: str
    kind: str  # "eq", "in", "null", "notnull", "bool"
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExprPredicate:
    """A predicate on an expression of one table's columns, e.g. lower(email) = $1."""

    expr: str
    columns: frozenset[str]
    op: str  # "eq", "in", "range"


@dataclass(frozen=True)
class Search:
    """Text search or containment that a btree cannot serve: full text, trigram, jsonb."""

    kind: str  # "fulltext", "trigram", "jsonb"
    expr: str
    column: str | None
    op: str


@dataclass
class Scan:
    """How one occurrence of a table in a statement is filtered, joined, sorted and read."""

    table: TableName
    alias: str
    eq: list[str] = field(default_factory=list)
    in_list: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    null: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    limited: bool = False
    group: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    star: bool = False
    constants: list[Constant] = field(default_factory=list)
    expressions: list[ExprPredicate] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)


@dataclass
class QueryAnalysis:
    kind: str  # "select", "insert", "update", "delete"
    scans: list[Scan] = field(default_factory=list)
    opaque: bool = False  # a view or unknown relation: any table may matter to its plan
    written: TableName | None = None
    set_columns: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)

    @property
    def tables(self) -> frozenset[TableName]:
        found = {s.table for s in self.scans}
        if self.written is not None:
            found.add(self.written)
        return frozenset(found)

    def scans_of(self, table: TableName) -> list[Scan]:
        return [s for s in self.scans if s.table == table]


def analyze(text: str, catalog: Catalog, *, trust_literals: bool = True) -> QueryAnalysis:
    """Analyse one statement; `trust_literals=False` when literals stand for parameters."""
    try:
        statements = parse_sql(text)
    except ParseError as exc:
        raise AnalysisError(f"does not parse: {exc}") from None
    if len(statements) != 1:
        raise AnalysisError(f"{len(statements)} statements where one was expected")
    return _Analyzer(catalog, trust_literals).statement(statements[0].stmt)


# -- the scope of names a query level sees --


@dataclass
class _Derived:
    """A subquery, CTE or function in FROM: output name -> the base column it passes through."""

    columns: dict[str, tuple[Scan, str] | None]
    known: bool = True


Entry = Scan | _Derived


@dataclass
class _Scope:
    parent: _Scope | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    ctes: dict[str, _Derived] = field(default_factory=dict)
    targets: list[ast.ResTarget] = field(default_factory=list)

    def cte(self, name: str) -> _Derived | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


@dataclass(frozen=True)
class _Col:
    scan: Scan
    column: str
    direct: bool  # named on the table itself, not through a subquery's output


@dataclass(frozen=True)
class _Operand:
    """One side of a comparison, classified."""

    col: _Col | None = None  # a plain column
    expr_scan: Scan | None = None  # an expression over one table's columns
    expr_sql: str = ""
    expr_columns: frozenset[str] = frozenset()
    constant: bool = False  # no column at all: literal, parameter, now(), ...
    literals: tuple[str, ...] | None = None  # literal values when every part is a literal
    cols: tuple[_Col, ...] = ()  # every column referenced (for usage)


class _Analyzer:
    def __init__(self, catalog: Catalog, trust_literals: bool) -> None:
        self.catalog = catalog
        self.trust_literals = trust_literals
        self.result = QueryAnalysis(kind="select")

    # -- statements --

    def statement(self, node: Any) -> QueryAnalysis:
        if isinstance(node, ast.SelectStmt):
            self.select(node, None)
        elif isinstance(node, ast.InsertStmt):
            self.insert(node)
        elif isinstance(node, ast.UpdateStmt):
            self.update(node)
        elif isinstance(node, ast.DeleteStmt):
            self.delete(node)
        elif isinstance(node, ast.ExplainStmt):
            raise AnalysisError("already an EXPLAIN statement")
        else:
            raise AnalysisError(f"not a query ({type(node).__name__})")
        return self.result

    def insert(self, node: Any) -> None:
        self.result.kind = "insert"
        scope = _Scope()
        self.with_clause(node.withClause, scope)
        found = self.catalog.resolve(node.relation.schemaname, node.relation.relname)
        if found is not None:
            self.result.written = found[0]
        else:
            self.result.opaque = True
        select = node.selectStmt
        if isinstance(select, ast.SelectStmt) and not select.valuesLists:
            self.select(select, scope)
        elif isinstance(select, ast.SelectStmt):
            for row in select.valuesLists or ():
                for value in row:
                    self.use(value, scope)

    def update(self, node: Any) -> None:
        self.result.kind = "update"
        scope = _Scope()
        self.with_clause(node.withClause, scope)
        scan = self.add_relation(node.relation, scope)
        if scan is not None:
            self.result.written = scan.table
        self.result.set_columns = frozenset(
            t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name
        )
        for item in node.fromClause or ():
            self.from_item(item, scope, scope)
        self.where(node.whereClause, scope)
        for target in node.targetList or ():
            self.use(target.val, scope)
        self.returning(node.returningClause, scope)

    def delete(self, node: Any) -> None:
        self.result.kind = "delete"
        scope = _Scope()
        self.with_clause(node.withClause, scope)
        scan = self.add_relation(node.relation, scope)
        if scan is not None:
            self.result.written = scan.table
        for item in node.usingClause or ():
            self.from_item(item, scope, scope)
        self.where(node.whereClause, scope)
        self.returning(node.returningClause, scope)

    def returning(self, clause: Any, scope: _Scope) -> None:
        if clause is None:
            return
        exprs = getattr(clause, "exprs", clause)  # pglast 7 has a plain list here
        for target in exprs or ():
            self.use(getattr(target, "val", target), scope)

    def with_clause(self, clause: Any, scope: _Scope) -> None:
        for cte in clause.ctes if clause else ():
            # a recursive CTE refers to itself: register it before analysing its body
            scope.ctes[cte.ctename] = _Derived({}, known=False)
            query = cte.ctequery
            if isinstance(query, ast.SelectStmt):
                inner = self.select(query, scope)
                scope.ctes[cte.ctename] = self.derived(inner, cte.aliascolnames)
            else:
                # a data-modifying CTE (INSERT/UPDATE/DELETE ... RETURNING)
                self.statement(query)

    def select(self, node: Any, parent: _Scope | None) -> _Scope:
        """Analyse one query level; returns its scope (targets for the caller's naming)."""
        scope = _Scope(parent=parent)
        self.with_clause(node.withClause, scope)
        if node.op != SetOperation.SETOP_NONE:
            left = self.select(node.larg, scope)
            self.select(node.rarg, scope)
            scope.targets = left.targets
            return scope
        if node.valuesLists:
            for row in node.valuesLists:
                for value in row:
                    self.use(value, scope)
            return scope
        for item in node.fromClause or ():
            self.from_item(item, scope, parent)
        scope.targets = [t for t in node.targetList or () if isinstance(t, ast.ResTarget)]
        self.where(node.whereClause, scope)
        for target in scope.targets:
            self.use(target.val, scope)
        self.group_by(node.groupClause, scope)
        self.use(node.havingClause, scope)
        limited = node.limitCount is not None
        self.order_by(node.sortClause, scope, limited)
        for clause in node.distinctClause or ():
            if clause is not None:
                self.use(clause, scope)
        return scope

    # -- FROM --

    def from_item(self, item: Any, scope: _Scope, outer: _Scope | None) -> None:
        if isinstance(item, ast.RangeVar):
            self.add_relation(item, scope)
        elif isinstance(item, ast.JoinExpr):
            self.from_item(item.larg, scope, outer)
            self.from_item(item.rarg, scope, outer)
            if item.usingClause:
                self.join_using(item, scope)
            # an outer join's ON clause cannot restrict the preserved side: no partial indexes
            inner = item.jointype == JoinType.JOIN_INNER
            self.where(item.quals, scope, conjunct=inner)
        elif isinstance(item, ast.RangeSubselect):
            inner_scope = self.select(item.subquery, scope if item.lateral else outer)
            alias = _alias(item, f"subquery{len(scope.entries)}")
            names = item.alias.colnames if item.alias else None
            scope.entries[alias] = self.derived(inner_scope, names)
        elif isinstance(item, ast.RangeFunction):
            for function in item.functions or ():
                for part in function:
                    if part is not None:
                        self.use(part, scope)
            alias = _alias(item, f"function{len(scope.entries)}")
            scope.entries[alias] = _Derived({alias: None}, known=False)
        else:
            self.use(item, scope)

    def derived(self, scope: _Scope, colnames: Any) -> _Derived:
        """A query level's output columns, mapped to the base columns they pass through."""
        columns: dict[str, tuple[Scan, str] | None] = {}
        names = [c.sval for c in colnames] if colnames else []
        for position, target in enumerate(scope.targets):
            value: Any = target.val
            name = names[position] if position < len(names) else target.name
            ref = None
            if isinstance(value, ast.ColumnRef) and isinstance(_fields(value)[-1], ast.String):
                name = name or _fields(value)[-1].sval
                col = self.resolve(value, scope)
                ref = (col.scan, col.column) if col else None
            if name:
                columns[name] = ref
        return _Derived(columns)

    def add_relation(self, node: Any, scope: _Scope) -> Scan | None:
        alias = node.alias.aliasname if node.alias else node.relname
        if node.schemaname is None:
            cte = scope.cte(node.relname)
            if cte is not None:
                scope.entries[alias] = cte
                return None
        found = self.catalog.resolve(node.schemaname, node.relname)
        if found is None or found[1] not in ("r", "p", "m"):
            # views expand to tables we cannot see here; unknown names fail at EXPLAIN
            self.result.opaque = True
            what = "view" if found else "unknown relation"
            self.result.problems.append(f"{what} {node.relname}")
            scope.entries[alias] = _Derived({}, known=False)
            return None
        scan = Scan(table=found[0], alias=alias)
        self.result.scans.append(scan)
        scope.entries[alias] = scan
        return scan

    def join_using(self, item: Any, scope: _Scope) -> None:
        left = self.side_entries(item.larg, scope)
        right = self.side_entries(item.rarg, scope)
        for name in (n.sval for n in item.usingClause):
            a = self.column_in(left, name)
            b = self.column_in(right, name)
            for col in (a, b):
                if col is not None:
                    col.scan.used.add(col.column)
            if a is not None and b is not None and a.scan is not b.scan:
                _add(a.scan.joins, a.column)
                _add(b.scan.joins, b.column)

    def side_entries(self, node: Any, scope: _Scope) -> list[Entry]:
        if isinstance(node, ast.RangeVar):
            alias = node.alias.aliasname if node.alias else node.relname
            return [scope.entries[alias]] if alias in scope.entries else []
        if isinstance(node, ast.JoinExpr):
            return self.side_entries(node.larg, scope) + self.side_entries(node.rarg, scope)
        alias = getattr(getattr(node, "alias", None), "aliasname", None)
        return [scope.entries[alias]] if alias in scope.entries else []

    # -- column resolution --

    def column_in(self, entries: list[Entry], name: str) -> _Col | None:
        for entry in entries:
            if isinstance(entry, Scan):
                if name in self.catalog.columns(entry.table):
                    return _Col(entry, name, direct=True)
            elif name in entry.columns:
                target = entry.columns[name]
                return _Col(target[0], target[1], direct=False) if target else None
        return None

    def resolve(self, ref: Any, scope: _Scope) -> _Col | None:
        names = [str(f.sval) for f in _fields(ref) if isinstance(f, ast.String)]
        current: _Scope | None = scope
        while current is not None:
            found = self.resolve_here(names, current)
            if found is not None:
                return found if isinstance(found, _Col) else None
            current = current.parent
        return None

    def resolve_here(self, names: list[str], scope: _Scope) -> _Col | bool | None:
        """A column, True when the name is known here but not a base column, or None."""
        if len(names) == 1:
            name = names[0]
            for entry in scope.entries.values():
                if isinstance(entry, Scan) and name in self.catalog.columns(entry.table):
                    return _Col(entry, name, direct=True)
                if isinstance(entry, _Derived) and name in entry.columns:
                    target = entry.columns[name]
                    return _Col(target[0], target[1], direct=False) if target else True
            return None
        alias, name = names[-2], names[-1]
        named = scope.entries.get(alias)
        if named is None:
            return None
        if isinstance(named, Scan):
            return _Col(named, name, direct=True)
        target = named.columns.get(name)
        return _Col(target[0], target[1], direct=False) if target else True

    # -- expressions --

    def use(self, node: Any, scope: _Scope) -> list[_Col]:
        """Mark every column `node` reads as used; analyse its subqueries. Returns the columns."""
        found: list[_Col] = []
        for part in _walk(node):
            if isinstance(part, ast.ColumnRef):
                if isinstance(_fields(part)[-1], ast.A_Star):
                    self.star(part, scope)
                    continue
                col = self.resolve(part, scope)
                if col is not None:
                    col.scan.used.add(col.column)
                    found.append(col)
            elif isinstance(part, ast.SubLink):
                self.sublink(part, scope)
        return found

    def star(self, ref: Any, scope: _Scope) -> None:
        """`*` or `t.*`: every column of those tables is read, so no index covers the query."""
        if len(ref.fields) > 1:
            alias = getattr(ref.fields[-2], "sval", None)
            entry = scope.entries.get(alias) if alias else None
            if isinstance(entry, Scan):
                entry.star = True
            return
        for entry in scope.entries.values():
            if isinstance(entry, Scan):
                entry.star = True

    def sublink(self, link: Any, scope: _Scope) -> None:
        inner = self.select(link.subselect, scope)
        if link.subLinkType != SubLinkType.ANY_SUBLINK or link.testexpr is None:
            return
        # `x IN (SELECT y ...)` is a semi-join on x = y
        outer_cols = self.use(link.testexpr, scope)
        targets = [t.val for t in inner.targets]
        if len(outer_cols) == 1 and len(targets) == 1 and isinstance(targets[0], ast.ColumnRef):
            inner_col = self.resolve(targets[0], inner)
            if inner_col is not None and inner_col.scan is not outer_cols[0].scan:
                _add(outer_cols[0].scan.joins, outer_cols[0].column)
                _add(inner_col.scan.joins, inner_col.column)

    def operand(self, node: Any, scope: _Scope) -> _Operand:
        cols = tuple(self.use(node, scope))
        refs = [p for p in _walk(node) if isinstance(p, ast.ColumnRef | ast.SubLink)]
        if not refs:
            return _Operand(constant=True, literals=_literals(node), cols=cols)
        if isinstance(node, ast.ColumnRef) and len(cols) == 1:
            return _Operand(col=cols[0], cols=cols)
        scans = {id(c.scan) for c in cols}
        plain = all(isinstance(p, ast.ColumnRef) for p in refs) and len(cols) == len(refs)
        if len(scans) == 1 and plain and all(c.direct for c in cols) and _indexable(node):
            return _Operand(
                expr_scan=cols[0].scan,
                expr_sql=_unqualified_sql(node),
                expr_columns=frozenset(c.column for c in cols),
                cols=cols,
            )
        return _Operand(cols=cols)

    # -- WHERE / ON --

    def where(self, node: Any, scope: _Scope, conjunct: bool = True) -> None:
        if node is None:
            return
        if isinstance(node, ast.BoolExpr):
            if node.boolop == BoolExprType.NOT_EXPR:
                # NOT flag is an equality on a boolean; NOT (x = 1) seeks nothing
                if not self.negated_bool(node, scope, conjunct):
                    self.use(node, scope)
                return
            inner = conjunct and node.boolop == BoolExprType.AND_EXPR
            for arg in node.args or ():
                self.where(arg, scope, inner)
            return
        if isinstance(node, ast.A_Expr):
            self.a_expr(node, scope, conjunct)
        elif isinstance(node, ast.NullTest):
            self.null_test(node, scope, conjunct)
        elif isinstance(node, ast.BooleanTest):
            self.bool_test(node, scope, conjunct)
        elif isinstance(node, ast.ColumnRef):
            side = self.operand(node, scope)
            if side.col is not None:
                _add(side.col.scan.eq, side.col.column)
                self.constant(side.col, "bool", (node,), ("t",), conjunct)
        elif isinstance(node, ast.SubLink):
            self.sublink(node, scope)
        else:
            self.use(node, scope)

    def negated_bool(self, node: Any, scope: _Scope, conjunct: bool) -> bool:
        arg = node.args[0]
        if not isinstance(arg, ast.ColumnRef):
            return False
        side = self.operand(arg, scope)
        if side.col is None:
            return False
        _add(side.col.scan.eq, side.col.column)
        self.constant(side.col, "bool", (node,), ("f",), conjunct)
        return True

    def a_expr(self, node: Any, scope: _Scope, conjunct: bool) -> None:
        kind = node.kind
        op = node.name[-1].sval if node.name else ""
        if kind == A_Expr_Kind.AEXPR_IN:
            self.in_list(node, scope, conjunct and op == "=", negated=op != "=")
        elif kind == A_Expr_Kind.AEXPR_OP_ANY and op == "=":
            left = self.operand(node.lexpr, scope)
            right = self.operand(node.rexpr, scope)
            if right.constant:
                self.record(left, "in", node, right, conjunct=False)
        elif kind == A_Expr_Kind.AEXPR_BETWEEN:
            left = self.operand(node.lexpr, scope)
            bounds = [self.operand(b, scope) for b in node.rexpr]
            if all(b.constant for b in bounds):
                self.record(left, "range", node, bounds[0], conjunct=False)
        elif kind == A_Expr_Kind.AEXPR_NOT_DISTINCT:
            self.comparison("=", node, scope, conjunct)
        elif kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE) or (
            kind == A_Expr_Kind.AEXPR_OP
        ):
            self.comparison(op, node, scope, conjunct)
        else:
            self.use(node, scope)

    def comparison(self, op: str, node: Any, scope: _Scope, conjunct: bool) -> None:
        left = self.operand(node.lexpr, scope) if node.lexpr is not None else _Operand()
        right = self.operand(node.rexpr, scope)
        if left.constant and not right.constant:
            left, right, op = right, left, FLIPPED.get(op, "")
        if op in ("~~", "~~*") and right.constant:
            self.pattern(left, op, right, node)
        elif op == "@@":
            self.full_text(left, right, node, scope)
        elif op in JSON_OPS and right.constant:
            self.containment(left, op)
        elif op == "=" and right.constant:
            self.record(left, "eq", node, right, conjunct)
        elif op in RANGE_OPS and right.constant:
            self.record(left, "range", node, right, conjunct=False)
        elif op in ("=", *RANGE_OPS) and left.col and right.col:
            self.join(left.col, right.col, op)

    def join(self, a: _Col, b: _Col, op: str) -> None:
        if a.scan is b.scan:
            return  # l_commitdate < l_receiptdate: a filter, nothing an index can seek
        target = "joins" if op == "=" else "range"
        _add(getattr(a.scan, target), a.column)
        _add(getattr(b.scan, target), b.column)

    def record(self, side: _Operand, how: str, node: Any, value: _Operand, conjunct: bool) -> None:
        if side.col is not None:
            scan, column = side.col.scan, side.col.column
            _add({"eq": scan.eq, "in": scan.in_list, "range": scan.range}[how], column)
            if how == "eq" and value.literals is not None:
                self.constant(side.col, "eq", (node,), value.literals, conjunct)
        elif side.expr_scan is not None:
            predicate = ExprPredicate(side.expr_sql, side.expr_columns, how)
            _add(side.expr_scan.expressions, predicate)

    def in_list(self, node: Any, scope: _Scope, conjunct: bool, negated: bool) -> None:
        left = self.operand(node.lexpr, scope)
        items = node.rexpr if isinstance(node.rexpr, list | tuple) else (node.rexpr,)
        values = [self.operand(v, scope) for v in items]
        if negated or not all(v.constant for v in values):
            return
        how = "eq" if len(values) == 1 else "in"
        literals: tuple[str, ...] | None = ()
        for value in values:
            literals = (
                None if value.literals is None or literals is None else literals + value.literals
            )
        merged = _Operand(constant=True, literals=literals)
        if how == "eq":
            self.record(left, "eq", node, merged, conjunct)
            return
        self.record(left, "in", node, merged, conjunct=False)
        if left.col is not None and literals is not None:
            self.constant(left.col, "in", (node,), literals, conjunct)

    def null_test(self, node: Any, scope: _Scope, conjunct: bool) -> None:
        side = self.operand(node.arg, scope)
        if side.col is None:
            return
        if node.nulltesttype == NullTestType.IS_NULL:
            _add(side.col.scan.null, side.col.column)
            self.constant(side.col, "null", (node,), (), conjunct)
        else:
            self.constant(side.col, "notnull", (node,), (), conjunct)

    def bool_test(self, node: Any, scope: _Scope, conjunct: bool) -> None:
        side = self.operand(node.arg, scope)
        if side.col is None:
            return
        value = {BoolTestType.IS_TRUE: "t", BoolTestType.IS_FALSE: "f"}.get(node.booltesttype)
        if value is not None:
            _add(side.col.scan.eq, side.col.column)
            self.constant(side.col, "bool", (node,), (value,), conjunct)

    def constant(
        self, col: _Col, kind: str, nodes: tuple[ast.Node, ...], values: tuple[str, ...], ok: bool
    ) -> None:
        """Record a literal conjunct (a partial index predicate) on a base column."""
        if not ok or not col.direct or (kind in ("eq", "in") and not self.trust_literals):
            return
        text = " AND ".join(_unqualified_sql(n) for n in nodes)
        _add(col.scan.constants, Constant(col.column, text, kind, values))

    def pattern(self, side: _Operand, op: str, value: _Operand, node: Any) -> None:
        target = side.col.scan if side.col else side.expr_scan
        if target is None:
            return
        column = side.col.column if side.col else None
        expr = column or side.expr_sql
        literal = value.literals[0] if value.literals else None
        if op == "~~" and literal is not None and literal[:1] not in ("%", "_", ""):
            # a left-anchored LIKE is a range scan on a btree (C collation or pattern ops)
            if column is not None:
                _add(target.range, column)
            return
        _add(target.searches, Search("trigram", expr, column, op))

    def full_text(self, left: _Operand, right: _Operand, node: Any, scope: _Scope) -> None:
        # either side may be the document; the query side is usually a function of constants
        for doc, other in ((left, right), (right, left)):
            target = doc.col.scan if doc.col else doc.expr_scan
            if target is not None and (other.constant or other.col is None):
                column = doc.col.column if doc.col else None
                _add(target.searches, Search("fulltext", column or doc.expr_sql, column, "@@"))
                return

    def containment(self, side: _Operand, op: str) -> None:
        if side.col is not None:
            _add(side.col.scan.searches, Search("jsonb", side.col.column, side.col.column, op))

    # -- GROUP BY / ORDER BY --

    def target_expr(self, node: Any, scope: _Scope) -> Any:
        """ORDER BY 2 / ORDER BY alias -> the target expression it names."""
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
            position = int(node.val.ival or 0) - 1
            if 0 <= position < len(scope.targets):
                return scope.targets[position].val
        if isinstance(node, ast.ColumnRef) and len(_fields(node)) == 1:
            name = getattr(_fields(node)[0], "sval", None)
            for target in scope.targets:
                if target.name == name:
                    return target.val
        return node

    def group_by(self, items: Any, scope: _Scope) -> None:
        for item in items or ():
            expr = self.target_expr(item, scope)
            side = self.operand(expr, scope)
            if side.col is not None and side.col.direct:
                _add(side.col.scan.group, side.col.column)

    def order_by(self, items: Any, scope: _Scope, limited: bool) -> None:
        keys: list[SortKey] = []
        owner: Scan | None = None
        for item in items or ():
            side = self.operand(self.target_expr(item.node, scope), scope)
            scan = side.col.scan if side.col and side.col.direct else side.expr_scan
            if scan is None or (owner is not None and scan is not owner):
                return  # sorted on several tables, or on an aggregate: no index serves it
            owner = scan
            desc = item.sortby_dir == SortByDir.SORTBY_DESC
            nulls = {SortByNulls.SORTBY_NULLS_FIRST: True, SortByNulls.SORTBY_NULLS_LAST: False}
            nulls_first = nulls.get(item.sortby_nulls)
            if nulls_first is not None and nulls_first == desc:
                nulls_first = None  # the default for that direction
            column = side.col.column if side.col else None
            keys.append(SortKey(column or side.expr_sql, column, desc, nulls_first))
        if owner is not None and keys:
            owner.sort = keys
            owner.limited = owner.limited or limited


# -- helpers --


def _walk(node: object) -> Iterator[ast.Node]:
    """Every node under `node`, not descending into subqueries (SubLink bodies)."""
    if node is None:
        return
    if isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    if isinstance(node, ast.SubLink):
        yield from _walk(node.testexpr)
        return
    for name in getattr(node, "__slots__", ()):
        value = getattr(node, name, None)
        if isinstance(value, ast.Node | list | tuple):
            yield from _walk(value)


AGGREGATES = frozenset(
    {
        "sum", "count", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or",
        "every", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "stddev",
        "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "bit_and", "bit_or",
        "percentile_cont", "percentile_disc", "mode", "corr", "covar_pop", "covar_samp",
    }
)  # fmt: skip


def _indexable(node: Any) -> bool:
    """An expression an index could hold: no parameter, aggregate, window or subquery."""
    for part in _walk(node):
        if isinstance(part, ast.ParamRef | ast.SubLink):
            return False
        if isinstance(part, ast.FuncCall):
            name = part.funcname[-1].sval if part.funcname else ""
            aggregate = part.agg_star or part.agg_distinct or part.agg_filter or part.agg_order
            if aggregate or part.over is not None or name.lower() in AGGREGATES:
                return False
    return True


def _literals(node: Any) -> tuple[str, ...] | None:
    """The literal value(s) of a constant, as pg_stats shows them; None if not a literal."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and not node.isnull:
        value = node.val
        if isinstance(value, ast.String):
            return (str(value.sval),)
        if isinstance(value, ast.Integer):
            return (str(value.ival),)
        if isinstance(value, ast.Float):
            return (str(value.fval),)
        if isinstance(value, ast.Boolean):
            return ("t" if value.boolval else "f",)
    return None


def _unqualified_sql(node: Any) -> str:
    """SQL text of an expression with table qualifiers removed (for index definitions)."""
    clone = copy.deepcopy(node)
    for part in _walk(clone):
        if isinstance(part, ast.ColumnRef) and len(_fields(part)) > 1:
            part.fields = (_fields(part)[-1],)
    return str(RawStream()(clone))


def _fields(ref: Any) -> tuple[Any, ...]:
    """A ColumnRef's name parts (pglast types them as optional)."""
    return tuple(ref.fields or ())


def _alias(item: Any, default: str) -> str:
    return str(item.alias.aliasname) if item.alias else default


def _add(items: list[Any], item: object) -> None:
    if item not in items:
        items.append(item)


# -- a plan node's Filter, as EXPLAIN prints it --


def filter_constants(text: str) -> list[Constant] | None:
    """The conjuncts of an EXPLAIN `Filter:` as literal predicates on columns, or None when
    any conjunct is something else (a pattern, a parameter, a function, a subplan).

    `((deleted_at IS NULL) AND (status = 'active'::text))` -> two Constants. Duplicates
    (row-level security repeats the query's own quals) come back once.
    """
    try:
        statements = parse_sql(f"SELECT 1 WHERE {text}")
    except ParseError:
        return None
    select = statements[0].stmt if len(statements) == 1 else None
    if not isinstance(select, ast.SelectStmt):
        return None
    found: list[Constant] = []
    for conjunct in _conjuncts(select.whereClause):
        constant = _filter_constant(conjunct)
        if constant is None:
            return None
        _add(found, constant)
    return found


def _conjuncts(node: Any) -> Iterator[Any]:
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        for arg in node.args or ():
            yield from _conjuncts(arg)
    else:
        yield node


def _filter_constant(node: Any) -> Constant | None:
    text = _unqualified_sql(node)
    if isinstance(node, ast.NullTest):
        column = _plain_column(node.arg)
        null = node.nulltesttype == NullTestType.IS_NULL
        return Constant(column, text, "null" if null else "notnull") if column else None
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.NOT_EXPR:
        column = _plain_column((node.args or (None,))[0])
        return Constant(column, text, "bool", ("f",)) if column else None
    if isinstance(node, ast.ColumnRef):
        column = _plain_column(node)
        return Constant(column, text, "bool", ("t",)) if column else None
    if not isinstance(node, ast.A_Expr) or not node.name or node.name[-1].sval != "=":
        return None
    left: Any = node.lexpr
    right: Any = node.rexpr
    if _plain_column(left) is None:
        left, right = right, left
    column = _plain_column(left)
    if column is None:
        return None
    if node.kind == A_Expr_Kind.AEXPR_OP:
        values = _literals(right)
        return Constant(column, text, "eq", values) if values is not None else None
    if node.kind == A_Expr_Kind.AEXPR_OP_ANY:
        items = _array_items(right)
        return Constant(column, text, "in", items) if items is not None else None
    return None


def _plain_column(node: Any) -> str | None:
    """The column of `col`, `t.col` or `(col)::type` (EXPLAIN casts varchar to text)."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and isinstance(_fields(node)[-1], ast.String):
        return str(_fields(node)[-1].sval)
    return None


def _array_items(node: Any) -> tuple[str, ...] | None:
    """The elements of an array literal `'{a,"b c"}'::type[]` (no NULLs, no nesting)."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const) or not isinstance(node.val, ast.String):
        return None
    text = str(node.val.sval).strip()
    if not (text.startswith("{") and text.endswith("}")) or "{" in text[1:-1]:
        return None
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text[1:-1]:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    items = [i for i in items if i != ""]
    if any(i.upper() == "NULL" for i in items):
        return None
    return tuple(items)
