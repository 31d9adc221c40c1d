"""What parsed SQL says: names, options, volatile function calls, and the columns a CHECK
proves NOT NULL."""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.enums import BoolExprType, NullTestType
from pglast.parser import ParseError

from prodready.migrate.lint_facts import Catalog
from prodready.sqltree import walk

# Functions whose volatility we assume when the database does not know them (an extension
# installed later in the same migration, or no --db): these defaults fill every row.
KNOWN_VOLATILE = frozenset(
    {
        "random",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "nextval",
    }
)


def column_name(ref: ast.ColumnRef) -> str | None:
    """The column of a one-part reference (`col`), else None."""
    fields = ref.fields or ()
    if len(fields) == 1 and isinstance(fields[0], ast.String):
        return fields[0].sval
    return None


def names_of(nodes: tuple[ast.Node, ...] | None) -> list[str]:
    """The strings of a name list such as TypeName.names or FuncCall.funcname."""
    return [n.sval or "" for n in nodes or () if isinstance(n, ast.String)]


def into_relation(node: ast.CreateTableAsStmt) -> ast.RangeVar | None:
    return node.into.rel if node.into is not None else None


def has_option(options: tuple[ast.DefElem, ...] | None, name: str) -> bool:
    return any(opt.defname == name and _truthy(opt.arg) for opt in options or ())


def _truthy(arg: object) -> bool:
    """A DefElem with no argument means true; `(FULL false)` and `(FULL 0)` mean false."""
    if isinstance(arg, ast.Boolean):
        return bool(arg.boolval)
    if isinstance(arg, ast.Integer):
        return arg.ival != 0
    if isinstance(arg, ast.String):
        return (arg.sval or "").lower() not in ("false", "off", "no", "0")
    return True


def volatile_functions(expr: ast.Node, catalog: Catalog | None) -> list[str]:
    """Names of the volatile functions an expression calls (the catalog's word wins)."""
    found: list[str] = []
    for node in walk(expr):
        if not isinstance(node, ast.FuncCall):
            continue
        parts = tuple(names_of(node.funcname))
        if not parts:
            continue
        if parts[0] == "pg_catalog":
            parts = parts[1:]
        known = catalog.volatility(parts) if catalog else None
        volatile = known == "v" if known is not None else parts[-1] in KNOWN_VOLATILE
        if volatile and parts[-1] not in found:
            found.append(parts[-1])
    return found


def not_null_columns(expr: ast.Node | None) -> frozenset[str]:
    """Columns a CHECK expression proves NOT NULL: `col IS NOT NULL`, alone or ANDed."""
    if expr is None:
        return frozenset()
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        cols: set[str] = set()
        for arg in expr.args or ():
            cols |= not_null_columns(arg)
        return frozenset(cols)
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == NullTestType.IS_NOT_NULL:
        name = column_name(expr.arg) if isinstance(expr.arg, ast.ColumnRef) else None
        if name is not None:
            return frozenset({name})
    return frozenset()


def check_definition_columns(definition: str) -> frozenset[str]:
    """Columns proved NOT NULL by a constraint as pg_get_constraintdef() prints it."""
    text = definition.strip()
    if not text.upper().startswith("CHECK"):
        return frozenset()
    body = text[len("CHECK") :].strip()
    for suffix in (" NOT VALID", " NO INHERIT"):
        body = body.removesuffix(suffix)
    try:
        stmt = parse_sql(f"SELECT 1 WHERE {body}")[0].stmt
    except ParseError:  # a definition we cannot read proves nothing
        return frozenset()
    return not_null_columns(getattr(stmt, "whereClause", None))
