"""Whether ALTER COLUMN TYPE rewrites the table: relabels (binary-coercible types, widened
lengths and precisions, timestamp/timestamptz under UTC) versus real conversions."""

from __future__ import annotations

from pglast import ast
from psycopg import sql

from prodready.migrate.lint_exprs import column_name, names_of
from prodready.migrate.lint_facts import Catalog, Column
from prodready.sqlgen import render

_TIME_TYPES = frozenset({"timestamp", "timestamptz", "time", "timetz"})
_VARHDRSZ = 4
# The parser's internal type names, as people write them
_SQL_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "bpchar": "char",
}


def type_change_rewrites(
    coldef: ast.ColumnDef, name: str | None, column: Column | None, catalog: Catalog
) -> tuple[bool, str]:
    """Whether PostgreSQL must rewrite the table for this type change, and why."""
    if not _trivial_using(coldef.raw_default, name):
        return True, "USING expression"
    if column is None:
        return True, "column not found in the database"
    type_name = coldef.typeName
    if type_name is None or type_name.pct_type:
        return True, "type not resolvable"
    target = catalog.type_target(type_lookup_name(type_name), column.type_oid)
    new_typmod = typmod_of(type_name, target.type_name if target else "")
    if target is None or new_typmod is None:
        return True, "type not resolvable"
    if target.oid == column.type_oid:
        if new_typmod == column.typmod:
            return False, "same type"
        if typmod_widens(column.type_name, column.typmod, new_typmod):
            return False, "length/precision widened"
        return True, "length/precision changed"
    if target.binary_coercible and new_typmod == -1:
        return False, "binary-coercible type"
    # PostgreSQL 12+ relabels timestamp <-> timestamptz when the session's zone is UTC
    timestamps = {column.type_name, target.type_name} == {"timestamp", "timestamptz"}
    widens = typmod_widens("timestamp", column.typmod, new_typmod)
    if timestamps and widens and catalog.utc_session():
        return False, "timestamp/timestamptz under a UTC session"
    return True, "type conversion"


def _trivial_using(expr: ast.Node | None, column: str | None) -> bool:
    """No USING, or USING the column itself (possibly cast): the default conversion."""
    if expr is None:
        return True
    if isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return isinstance(expr, ast.ColumnRef) and column_name(expr) == column


def type_lookup_name(type_name: ast.TypeName) -> str:
    """The type's name for to_regtype(), without modifiers: "pg_catalog"."varchar", "uuid"[]."""
    names = names_of(type_name.names)
    text = render(sql.Identifier(*names))
    return text + "[]" if type_name.arrayBounds else text


def type_display(type_name: ast.TypeName | None) -> str:
    """The type as a person wrote it, roughly: int8, varchar(20), numeric(12,2)."""
    if type_name is None:
        return "?"
    base = (names_of(type_name.names) or ["?"])[-1]
    base = _SQL_NAMES.get(base, base)
    mods = [str(_const(m)) for m in type_name.typmods or ()]
    text = f"{base}({','.join(mods)})" if mods else base
    return text + "[]" if type_name.arrayBounds else text


def _const(node: ast.Node) -> int | str | None:
    value = getattr(node, "val", None)
    if isinstance(value, ast.Integer):
        return int(value.ival or 0)
    if value is not None and hasattr(value, "sval"):
        return str(value.sval)
    return None


def typmod_of(type_name: ast.TypeName, base: str) -> int | None:
    """The atttypmod PostgreSQL would store for the written modifiers; None when unsure."""
    mods = [_const(m) for m in type_name.typmods or ()]
    if not mods:
        return {"bpchar": 1 + _VARHDRSZ, "bit": 1}.get(base, -1)
    if not all(isinstance(m, int) for m in mods):
        return None
    ints = [int(m) for m in mods if isinstance(m, int)]
    if base in ("varchar", "bpchar") and len(ints) == 1:
        return ints[0] + _VARHDRSZ
    if base in ("varbit", "bit") and len(ints) == 1:
        return ints[0]
    if base == "numeric" and len(ints) in (1, 2):
        scale = ints[1] if len(ints) == 2 else 0
        return ((ints[0] << 16) | (scale & 0x7FF)) + _VARHDRSZ
    if base in _TIME_TYPES and len(ints) == 1:
        return ints[0]
    return None


def typmod_widens(base: str, old: int, new: int) -> bool:
    """True when PostgreSQL keeps the data as is: a longer varchar, a wider numeric..."""
    if base in ("varchar", "varbit"):
        return new == -1 or (old != -1 and new >= old)
    if base == "numeric":
        if new == -1:
            return True
        if old == -1:
            return False
        old_p, old_s = (old - _VARHDRSZ) >> 16, (old - _VARHDRSZ) & 0x7FF
        new_p, new_s = (new - _VARHDRSZ) >> 16, (new - _VARHDRSZ) & 0x7FF
        return new_s == old_s and new_p >= old_p
    if base in _TIME_TYPES:
        old_precision = 6 if old == -1 else old
        new_precision = 6 if new == -1 else new
        return new_precision >= old_precision
    return False
