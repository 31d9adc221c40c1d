"""Size-aware migration rules: what a statement locks, what it rewrites or scans, for how long.

squawk knows which statements are risky in general; these rules know how big the table
behind each one is. They are pure functions over a parsed statement and a `Catalog` (facts
read from the live database), so they are tested from hand-built facts.

Durations are rough on purpose. They assume ~50 MB/s for work that writes (a table rewrite,
an index build) and ~100 MB/s for a read-only scan: a conservative figure for cloud disks.
Real speed depends on I/O, CPU, maintenance_work_mem and concurrent load.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pglast import ast, parse_sql
from pglast.enums import (
    AlterTableType,
    BoolExprType,
    ConstrType,
    NullTestType,
    ObjectType,
    ReindexObjectType,
)
from pglast.parser import ParseError
from psycopg import sql

from prodready.sqlgen import render
from prodready.units import human_bytes

WRITE_MB_S = 50  # rewrites and index builds read, sort and write everything
SCAN_MB_S = 100  # validation scans only read
MB = 1024 * 1024

ACCESS_EXCLUSIVE = ("ACCESS EXCLUSIVE", "blocks reads and writes")
SHARE = ("SHARE", "blocks writes")
SHARE_ROW_EXCLUSIVE = ("SHARE ROW EXCLUSIVE", "blocks writes")
# REINDEX locks each index ACCESS EXCLUSIVE, and planning any query on the table needs them
REINDEX_LOCK = ("SHARE on the table, ACCESS EXCLUSIVE on its indexes", "blocks writes and reads")

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
SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
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


# --- rule metadata -------------------------------------------------------------------------


@dataclass(frozen=True)
class LintRule:
    """A prodready rule: its id, a title, and the docstring that becomes its help."""

    id: str
    title: str
    description: str


RULES: dict[str, LintRule] = {}


def _rule(rule_id: str, title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if rule_id in RULES:
            raise ValueError(f"duplicate lint rule {rule_id}")
        doc = " ".join((func.__doc__ or title).split())
        RULES[rule_id] = LintRule(rule_id, title, doc)
        return func

    return register


# --- facts the rules read ------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A table (or index) as the catalog sizes it; partitioned tables sum their partitions."""

    schema: str
    name: str
    kind: str  # pg_class.relkind
    rows: float | None  # pg_class.reltuples; None when never analyzed
    table_bytes: int  # heap + TOAST (what a scan or an index build reads)
    total_bytes: int  # table_bytes + indexes (what a rewrite writes)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Column:
    type_oid: int
    type_name: str  # pg_type.typname, e.g. varchar, int4
    typmod: int
    display_type: str  # format_type(), e.g. character varying(20)
    not_null: bool


@dataclass(frozen=True)
class TypeTarget:
    """The type an ALTER COLUMN TYPE names, and whether PostgreSQL can relabel to it."""

    oid: int
    type_name: str
    binary_coercible: bool  # same type, or a pg_cast WITHOUT FUNCTION from the old one


class Catalog(Protocol):
    """What the rules need to know about the live database."""

    def relation(self, schema: str | None, name: str) -> Relation | None: ...

    def column(self, relation: Relation, column: str) -> Column | None: ...

    def type_target(self, type_name: str, old_type_oid: int) -> TypeTarget | None: ...

    def volatility(self, function: tuple[str, ...]) -> str | None: ...

    def not_null_checked(self, relation: Relation) -> frozenset[str]: ...

    def utc_session(self) -> bool: ...


@dataclass(frozen=True)
class Sizes:
    """When a table counts as large (error) or medium (warning)."""

    large_bytes: int
    large_rows: int
    warn_ratio: float

    def level(self, work_bytes: int, rows: float | None) -> str | None:
        rows = rows or 0
        if work_bytes >= self.large_bytes or rows >= self.large_rows:
            return "error"
        ratio = self.warn_ratio
        if work_bytes >= self.large_bytes * ratio or rows >= self.large_rows * ratio:
            return "warning"
        return None


@dataclass(frozen=True)
class Hit:
    """One rule violation on one statement; the caller adds the file and the position."""

    rule: str
    level: str
    message: str
    help: str
    evidence: dict[str, Any]


# --- state carried through a run -----------------------------------------------------------

TableKey = tuple[str | None, str]


@dataclass
class RunState:
    """What earlier statements of the run did, as far as later statements care."""

    not_null_cols: dict[TableKey, set[str]] = field(default_factory=dict)
    not_valid_checks: dict[tuple[TableKey, str], frozenset[str]] = field(default_factory=dict)

    def fork(self) -> RunState:
        """A copy for a file whose changes must not leak to later files (a .down.sql)."""
        return copy.deepcopy(self)


@dataclass
class FileContext:
    """Per-file facts: whether it runs in one transaction, and what it added NOT VALID."""

    transactional: bool
    directive_aware: bool  # the file is ours, so the fix is the transactional=false directive
    # Tables this file creates: empty when its later statements run. A table created by an
    # earlier file is not in this set: if the database has it, those files ran already.
    created: set[TableKey] = field(default_factory=set)
    added_not_valid: dict[tuple[TableKey, str], tuple[str, str]] = field(default_factory=dict)


def table_key(rv: ast.RangeVar) -> TableKey:
    return (rv.schemaname, rv.relname or "")


def _same_table(a: TableKey, b: TableKey) -> bool:
    return a[1] == b[1] and (a[0] is None or b[0] is None or a[0] == b[0])


def _lookup(mapping: dict[TableKey, set[str]], key: TableKey) -> set[str]:
    found: set[str] = set()
    for other, cols in mapping.items():
        if _same_table(other, key):
            found |= cols
    return found


# --- rules without the database ------------------------------------------------------------


@_rule("cannot-run-in-transaction", "Statement refuses to run inside a transaction")
def cannot_run_in_transaction(node: ast.Node, ctx: FileContext) -> Iterator[Hit]:
    """PostgreSQL refuses CREATE/DROP/REINDEX ... CONCURRENTLY, DETACH PARTITION CONCURRENTLY,
    VACUUM, ALTER SYSTEM and CREATE/DROP DATABASE inside a transaction block, so a migration
    that wraps its file in one fails there. Put such statements in their own migration marked
    `-- prodready:transactional=false` (or your tool's equivalent, e.g. Rails'
    `disable_ddl_transaction!`, Django's `atomic = False`)."""
    if not ctx.transactional:
        return
    what = _refuses_transaction(node)
    if what is None:
        return
    fix = (
        "move it to its own migration with `-- prodready:transactional=false`"
        if ctx.directive_aware
        else "run it outside the migration's transaction"
    )
    yield Hit(
        rule="cannot-run-in-transaction",
        level="error",
        message=f"{what} cannot run inside a transaction block, and this file runs in one",
        help=f"PostgreSQL refuses it there; {fix}.",
        evidence={"statement": what, "transactional": True},
    )


def _refuses_transaction(node: ast.Node) -> str | None:
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and _has_option(node.params, "concurrently"):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.AlterSystemStmt):
        return "ALTER SYSTEM"
    if isinstance(node, ast.CreatedbStmt):
        return "CREATE DATABASE"
    if isinstance(node, ast.DropdbStmt):
        return "DROP DATABASE"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_DetachPartition and cmd.def_.concurrent:
                return "DETACH PARTITION CONCURRENTLY"
    return None


def _has_option(options: tuple[ast.DefElem, ...] | None, name: str) -> bool:
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


# --- rules that need the database ----------------------------------------------------------


@dataclass
class _Inputs:
    """What one size rule needs: the statement, its file, the run, the catalog, the sizes."""

    ctx: FileContext
    state: RunState
    catalog: Catalog
    sizes: Sizes


def size_hits(
    node: ast.Node, ctx: FileContext, state: RunState, catalog: Catalog, sizes: Sizes
) -> list[Hit]:
    """Every size-aware rule on one statement; then the run state learns its effects."""
    inputs = _Inputs(ctx, state, catalog, sizes)
    hits: list[Hit] = []
    if isinstance(node, ast.AlterTableStmt):
        hits += _alter_table(node, inputs)
    elif isinstance(node, ast.IndexStmt):
        hits += blocking_index_build(node, inputs)
    elif isinstance(node, ast.ReindexStmt):
        hits += _reindex(node, inputs)
    elif isinstance(node, (ast.VacuumStmt, ast.ClusterStmt)):
        hits += _vacuum_full_or_cluster(node, inputs)
    track(node, ctx, state, catalog)
    return _one_rewrite(hits)


def _one_rewrite(hits: list[Hit]) -> list[Hit]:
    """One ALTER TABLE rewrites its table once, however many of its commands need it."""
    rewrites = [h for h in hits if h.rule == "table-rewrite"]
    if len(rewrites) < 2:
        return hits
    first, *more = rewrites
    merged = Hit(
        rule=first.rule,
        level=first.level,
        message=f"{first.message} (one rewrite, also for {len(more)} more change(s))",
        help=first.help,
        evidence=first.evidence | {"also": [h.evidence.get("column") for h in more]},
    )
    return [merged if h is first else h for h in hits if h not in more]


def track(node: ast.Node, ctx: FileContext, state: RunState, catalog: Catalog | None) -> None:
    """Remember tables this run creates, constraints added NOT VALID, columns proved NOT NULL."""
    if isinstance(node, (ast.CreateStmt, ast.CreateTableAsStmt)):
        rv = node.relation if isinstance(node, ast.CreateStmt) else _into(node)
        if rv is None:
            return
        key = table_key(rv)
        exists = catalog is not None and catalog.relation(*key) is not None
        if not (getattr(node, "if_not_exists", False) and exists):
            ctx.created.add(key)
    if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
        return
    key = table_key(node.relation)
    for cmd in node.cmds or ():
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            _track_constraint(cmd.def_, key, ctx, state)
        elif cmd.subtype == AlterTableType.AT_ValidateConstraint:
            for (other, name), cols in state.not_valid_checks.items():
                if name == cmd.name and _same_table(other, key):
                    state.not_null_cols.setdefault(key, set()).update(cols)
        elif cmd.subtype == AlterTableType.AT_SetNotNull and cmd.name:
            state.not_null_cols.setdefault(key, set()).add(cmd.name)


def _track_constraint(
    con: ast.Constraint, key: TableKey, ctx: FileContext, state: RunState
) -> None:
    if con.contype not in (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_FOREIGN):
        return
    check = con.contype == ConstrType.CONSTR_CHECK
    name = con.conname or ""
    if con.skip_validation:
        kind, lock = (
            ("CHECK", ACCESS_EXCLUSIVE[0]) if check else ("FOREIGN KEY", SHARE_ROW_EXCLUSIVE[0])
        )
        ctx.added_not_valid[(key, name)] = (kind, lock)
    if not check:
        return
    cols = not_null_columns(con.raw_expr)
    if con.skip_validation:
        state.not_valid_checks[(key, name)] = cols
    elif cols:
        state.not_null_cols.setdefault(key, set()).update(cols)


def _target(rv: ast.RangeVar | None, inputs: _Inputs) -> Relation | None:
    """The existing table a statement works on; None when new in this run or unknown."""
    if rv is None:
        return None
    key = table_key(rv)
    if any(_same_table(key, created) for created in inputs.ctx.created):
        return None
    return inputs.catalog.relation(*key)


def _alter_table(node: ast.AlterTableStmt, inputs: _Inputs) -> Iterator[Hit]:
    rv = node.relation
    rel = _target(rv, inputs)
    if rv is None or rel is None:
        return
    for cmd in node.cmds or ():
        sub = cmd.subtype
        if sub == AlterTableType.AT_AlterColumnType:
            yield from alter_column_type(cmd, rel, inputs)
        elif sub == AlterTableType.AT_AddColumn:
            yield from add_column_rewrite(cmd, rel, inputs)
        elif sub in _REWRITE_COMMANDS and node.objtype != ObjectType.OBJECT_INDEX:
            yield from _rewrite(_REWRITE_COMMANDS[sub], rel, inputs, {})
        elif sub == AlterTableType.AT_SetTableSpace:
            yield from _set_tablespace(cmd, rel, inputs)
        elif sub == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            yield from add_constraint(cmd.def_, rv, rel, inputs)
        elif sub == AlterTableType.AT_ValidateConstraint:
            yield from validate_in_same_transaction(cmd, rv, rel, inputs)
        elif sub == AlterTableType.AT_SetNotNull:
            yield from set_not_null(cmd, rv, rel, inputs)


_REWRITE_COMMANDS = {
    AlterTableType.AT_SetLogged: "SET LOGGED",
    AlterTableType.AT_SetUnLogged: "SET UNLOGGED",
    AlterTableType.AT_SetAccessMethod: "SET ACCESS METHOD",
}


@_rule("table-rewrite", "Statement rewrites a large table under ACCESS EXCLUSIVE")
def _rewrite(action: str, rel: Relation, inputs: _Inputs, extra: dict[str, Any]) -> Iterator[Hit]:
    """ALTER COLUMN TYPE (unless PostgreSQL can relabel the type), ADD COLUMN with a volatile
    default (random(), clock_timestamp(), gen_random_uuid(), serial, identity, stored
    generated columns), SET LOGGED/UNLOGGED, SET ACCESS METHOD, VACUUM FULL and CLUSTER copy
    the whole table and rebuild its indexes while holding ACCESS EXCLUSIVE: nothing can read
    or write the table until it ends. Since PostgreSQL 11 a non-volatile default (a
    constant, now()) does not rewrite. On a large table add the column without the volatile
    default and backfill in batches, or build a new column/table and swap it in; use
    pg_repack instead of VACUUM FULL/CLUSTER."""
    level = inputs.sizes.level(rel.total_bytes, rel.rows)
    if level is None:
        return
    seconds = _seconds(rel.total_bytes, WRITE_MB_S)
    yield Hit(
        rule="table-rewrite",
        level=level,
        message=(
            f"{action} rewrites {_describe(rel, rel.total_bytes)} under "
            f"{_lock(ACCESS_EXCLUSIVE)}, {human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help=_REWRITE_HELP.get(action.split()[0], _REWRITE_HELP["default"]),
        evidence=_evidence(rel, rel.total_bytes, seconds, WRITE_MB_S, ACCESS_EXCLUSIVE)
        | {"rewrites": True}
        | extra,
    )


_REWRITE_HELP = {
    "ALTER": "Add a new column of the new type, backfill it in batches, then swap it in with a"
    " short transaction (or schedule downtime for the rewrite).",
    "ADD": "Add the column without the volatile default (or with a constant one), backfill it"
    " in batches, then SET DEFAULT for new rows.",
    "VACUUM": "Use pg_repack (or pg_squeeze), which rebuilds the table with only brief locks.",
    "CLUSTER": "Use pg_repack --order-by, which reorders the table with only brief locks.",
    "default": "Schedule the rewrite in a maintenance window, or rebuild the table alongside"
    " and swap it in.",
}


def alter_column_type(cmd: ast.AlterTableCmd, rel: Relation, inputs: _Inputs) -> Iterator[Hit]:
    """ALTER COLUMN TYPE rewrites unless the new type is a relabel of the old one."""
    coldef = cmd.def_
    if not isinstance(coldef, ast.ColumnDef):
        return
    column = inputs.catalog.column(rel, cmd.name) if cmd.name else None
    rewrite, why = _type_change_rewrites(coldef, cmd.name, column, inputs.catalog)
    if not rewrite:
        return
    new_type = type_display(coldef.typeName)
    old = column.display_type if column else "unknown"
    extra = {"column": cmd.name, "old_type": old, "new_type": new_type, "reason": why}
    action = f"ALTER COLUMN {cmd.name} TYPE {new_type}"
    yield from _rewrite(action, rel, inputs, extra)


def _type_change_rewrites(
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


def column_name(ref: ast.ColumnRef) -> str | None:
    """The column of a one-part reference (`col`), else None."""
    fields = ref.fields or ()
    if len(fields) == 1 and isinstance(fields[0], ast.String):
        return fields[0].sval
    return None


def names_of(nodes: tuple[ast.Node, ...] | None) -> list[str]:
    """The strings of a name list such as TypeName.names or FuncCall.funcname."""
    return [n.sval or "" for n in nodes or () if isinstance(n, ast.String)]


def _into(node: ast.CreateTableAsStmt) -> ast.RangeVar | None:
    return node.into.rel if node.into is not None else None


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


def add_column_rewrite(cmd: ast.AlterTableCmd, rel: Relation, inputs: _Inputs) -> Iterator[Hit]:
    """ADD COLUMN fills every existing row when its value is computed per row."""
    coldef = cmd.def_
    if not isinstance(coldef, ast.ColumnDef):
        return
    if cmd.missing_ok and coldef.colname and inputs.catalog.column(rel, coldef.colname):
        return  # ADD COLUMN IF NOT EXISTS on a column that exists does nothing
    why = rewriting_column(coldef, inputs.catalog)
    if why is None:
        return
    action = f"ADD COLUMN {coldef.colname} with {why}"
    yield from _rewrite(action, rel, inputs, {"column": coldef.colname, "reason": why})


def rewriting_column(coldef: ast.ColumnDef, catalog: Catalog | None) -> str | None:
    """Why adding this column rewrites the table (PostgreSQL 11+), or None when it does not."""
    type_name = (names_of(coldef.typeName.names) or [""])[-1] if coldef.typeName else ""
    if type_name in SERIAL_TYPES:
        return f"{type_name} (a sequence value per row)"
    expressions = [coldef.raw_default] if coldef.raw_default is not None else []
    for con in coldef.constraints or ():
        if con.contype == ConstrType.CONSTR_IDENTITY:
            return "GENERATED AS IDENTITY (a sequence value per row)"
        if con.contype == ConstrType.CONSTR_GENERATED and con.generated_kind == "s":
            return "a STORED generated expression"
        if con.contype == ConstrType.CONSTR_DEFAULT and con.raw_expr is not None:
            expressions.append(con.raw_expr)
    for expr in expressions:
        volatile = volatile_functions(expr, catalog)
        if volatile:
            return f"volatile default {', '.join(f'{f}()' for f in volatile)}"
    return None


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


def walk(value: object) -> Iterator[ast.Node]:
    """Every node below (and including) `value`."""
    if isinstance(value, ast.Node):
        yield value
        for attr in value:
            yield from walk(getattr(value, attr))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from walk(item)


def _set_tablespace(cmd: ast.AlterTableCmd, rel: Relation, inputs: _Inputs) -> Iterator[Hit]:
    """SET TABLESPACE copies the relation's files (not its indexes) under ACCESS EXCLUSIVE."""
    work = rel.table_bytes
    level = inputs.sizes.level(work, rel.rows)
    if level is None:
        return
    seconds = _seconds(work, WRITE_MB_S)
    yield Hit(
        rule="table-rewrite",
        level=level,
        message=(
            f"SET TABLESPACE {cmd.name} copies {_describe(rel, work)} under "
            f"{_lock(ACCESS_EXCLUSIVE)}, {human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help="Move large tables with pg_repack --tablespace, which holds only brief locks.",
        evidence=_evidence(rel, work, seconds, WRITE_MB_S, ACCESS_EXCLUSIVE)
        | {"rewrites": True, "tablespace": cmd.name},
    )


def _vacuum_full_or_cluster(node: ast.Node, inputs: _Inputs) -> Iterator[Hit]:
    if isinstance(node, ast.ClusterStmt):
        if node.relation is None:
            return  # re-clusters tables clustered before: nothing to size here
        rel = _target(node.relation, inputs)
        if rel is not None:
            yield from _rewrite("CLUSTER", rel, inputs, {})
        return
    if not (isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd):
        return
    if not _has_option(node.options, "full"):
        return
    for vrel in node.rels or ():
        rel = _target(vrel.relation, inputs)
        if rel is not None:
            yield from _rewrite("VACUUM FULL", rel, inputs, {})


@_rule("blocking-index-build", "Index built on a large table without CONCURRENTLY")
def blocking_index_build(node: ast.IndexStmt, inputs: _Inputs) -> Iterator[Hit]:
    """CREATE INDEX without CONCURRENTLY holds a SHARE lock for the whole build: reads go
    on, but every INSERT, UPDATE and DELETE on the table waits until the index is built.
    ADD PRIMARY KEY/UNIQUE without USING INDEX is worse: it builds under ACCESS EXCLUSIVE,
    and REINDEX without CONCURRENTLY blocks writes and the reads that use the index. Build
    with CREATE INDEX CONCURRENTLY (outside a transaction), then attach a constraint with
    ADD CONSTRAINT ... USING INDEX; on a partitioned table create the index ON ONLY the
    parent, build each partition's CONCURRENTLY, then ATTACH PARTITION them."""
    if node.concurrent:
        return
    rel = _target(node.relation, inputs)
    if rel is None:
        return
    if node.if_not_exists and node.idxname and inputs.catalog.relation(rel.schema, node.idxname):
        return  # the index exists: PostgreSQL skips the statement
    yield from _index_build("CREATE INDEX", rel, SHARE, inputs, {"index": node.idxname})


def _index_build(
    action: str,
    rel: Relation,
    lock: tuple[str, str],
    inputs: _Inputs,
    extra: dict[str, Any],
    work: int | None = None,
) -> Iterator[Hit]:
    work = rel.table_bytes if work is None else work
    level = inputs.sizes.level(work, rel.rows)
    if level is None:
        return
    seconds = _seconds(work, WRITE_MB_S)
    if rel.kind == "p":
        fix = (
            "CONCURRENTLY is not available on a partitioned table: create the index ON ONLY"
            " the parent, build each partition's index CONCURRENTLY, then ATTACH PARTITION it."
        )
    elif lock == ACCESS_EXCLUSIVE:
        fix = (
            "Build a unique index with CREATE UNIQUE INDEX CONCURRENTLY first, then"
            " ADD CONSTRAINT ... USING INDEX (a brief lock)."
        )
    else:
        fix = "Use CONCURRENTLY, in a migration that does not run in a transaction."
    yield Hit(
        rule="blocking-index-build",
        level=level,
        message=(
            f"{action} builds over {_describe(rel, work)} under {_lock(lock)}, "
            f"{human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help=fix,
        evidence=_evidence(rel, work, seconds, WRITE_MB_S, lock) | {"rewrites": False} | extra,
    )


def _reindex(node: ast.ReindexStmt, inputs: _Inputs) -> Iterator[Hit]:
    if _has_option(node.params, "concurrently") or node.relation is None:
        return
    if node.kind not in (
        ReindexObjectType.REINDEX_OBJECT_TABLE,
        ReindexObjectType.REINDEX_OBJECT_INDEX,
    ):
        return
    rel = _target(node.relation, inputs)
    if rel is None:
        return
    # a table's indexes all rebuild; for REINDEX INDEX the index's own size stands in
    yield from _index_build("REINDEX", rel, REINDEX_LOCK, inputs, {}, work=rel.total_bytes)


@_rule("constraint-full-scan", "Constraint validated on a large table while it is locked")
def add_constraint(
    con: ast.Constraint, rv: ast.RangeVar, rel: Relation, inputs: _Inputs
) -> Iterator[Hit]:
    """ADD CONSTRAINT ... FOREIGN KEY or CHECK without NOT VALID reads the whole table to
    validate it while holding its lock: SHARE ROW EXCLUSIVE on both tables for a foreign
    key, ACCESS EXCLUSIVE for a CHECK. Add the constraint NOT VALID (instant), then
    VALIDATE CONSTRAINT in a separate transaction: validation only takes SHARE UPDATE
    EXCLUSIVE, which lets reads and writes go on. Validating in the same transaction as the
    ADD keeps the ADD's strong lock for the whole scan."""
    if con.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE):
        if con.indexname is None:
            kind = "PRIMARY KEY" if con.contype == ConstrType.CONSTR_PRIMARY else "UNIQUE"
            extra = {"constraint": con.conname}
            yield from _index_build(f"ADD {kind}", rel, ACCESS_EXCLUSIVE, inputs, extra)
        return
    if con.contype == ConstrType.CONSTR_EXCLUSION:
        extra = {"constraint": con.conname}
        yield from _index_build("ADD EXCLUDE", rel, ACCESS_EXCLUSIVE, inputs, extra)
        return
    if con.contype not in (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK):
        return
    foreign = con.contype == ConstrType.CONSTR_FOREIGN
    kind, lock = ("FOREIGN KEY", SHARE_ROW_EXCLUSIVE) if foreign else ("CHECK", ACCESS_EXCLUSIVE)
    if con.skip_validation:
        return
    also = ""
    if foreign and con.pktable is not None:
        referenced = inputs.catalog.relation(*table_key(con.pktable))
        name = referenced.qualified if referenced else con.pktable.relname
        also = f", on {name} too"
    yield from _scan(f"ADD {kind}", rel, lock, inputs, {"constraint": con.conname}, also)


def validate_in_same_transaction(
    cmd: ast.AlterTableCmd, rv: ast.RangeVar, rel: Relation, inputs: _Inputs
) -> Iterator[Hit]:
    """VALIDATE right after ADD ... NOT VALID in one transaction scans under the ADD's lock."""
    if not inputs.ctx.transactional:
        return
    key = table_key(rv)
    for (other, name), (kind, lock_name) in inputs.ctx.added_not_valid.items():
        if name == cmd.name and _same_table(other, key):
            lock = ACCESS_EXCLUSIVE if lock_name == ACCESS_EXCLUSIVE[0] else SHARE_ROW_EXCLUSIVE
            action = f"VALIDATE CONSTRAINT {name} in the same transaction as its ADD {kind}"
            yield from _scan(action, rel, lock, inputs, {"constraint": name}, "")
            return


def _scan(
    action: str,
    rel: Relation,
    lock: tuple[str, str],
    inputs: _Inputs,
    extra: dict[str, Any],
    also: str,
    rule: str = "constraint-full-scan",
) -> Iterator[Hit]:
    work = rel.table_bytes
    level = inputs.sizes.level(work, rel.rows)
    if level is None:
        return
    seconds = _seconds(work, SCAN_MB_S)
    help_text = (
        "Add it NOT VALID, then VALIDATE CONSTRAINT in a separate transaction"
        " (SHARE UPDATE EXCLUSIVE: reads and writes go on)."
        if rule == "constraint-full-scan"
        else "First ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a"
        " separate transaction, then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop"
        " the CHECK."
    )
    yield Hit(
        rule=rule,
        level=level,
        message=(
            f"{action} scans {_describe(rel, work)} under {lock[0]} ({lock[1]}{also}), "
            f"{human_duration(seconds)} at ~{SCAN_MB_S} MB/s"
        ),
        help=help_text,
        evidence=_evidence(rel, work, seconds, SCAN_MB_S, lock)
        | {"rewrites": False, "scans": True}
        | extra,
    )


@_rule("set-not-null-full-scan", "SET NOT NULL scans a large table under ACCESS EXCLUSIVE")
def set_not_null(
    cmd: ast.AlterTableCmd, rv: ast.RangeVar, rel: Relation, inputs: _Inputs
) -> Iterator[Hit]:
    """ALTER COLUMN ... SET NOT NULL reads every row to prove there is no NULL, holding
    ACCESS EXCLUSIVE meanwhile. Since PostgreSQL 12 the scan is skipped when a validated
    CHECK (col IS NOT NULL) constraint already proves it: add that CHECK NOT VALID,
    VALIDATE it in a separate transaction (no blocking lock), then SET NOT NULL and drop
    the CHECK."""
    column_name = cmd.name or ""
    column = inputs.catalog.column(rel, column_name)
    if column is not None and column.not_null:
        return  # already NOT NULL: PostgreSQL does nothing
    key = table_key(rv)
    if column_name in inputs.catalog.not_null_checked(rel):
        return
    if column_name in _lookup(inputs.state.not_null_cols, key):
        return
    action = f"SET NOT NULL on {column_name}"
    extra = {"column": column_name, "validated_not_null_check": False}
    yield from _scan(action, rel, ACCESS_EXCLUSIVE, inputs, extra, "", "set-not-null-full-scan")


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


# --- formatting ----------------------------------------------------------------------------


def _seconds(work_bytes: int, mb_per_s: int) -> float:
    return work_bytes / (mb_per_s * MB)


def _lock(lock: tuple[str, str]) -> str:
    return f"{lock[0]} ({lock[1]})"


def _describe(rel: Relation, work_bytes: int) -> str:
    return f"{rel.qualified} ({human_bytes(work_bytes)}, {human_rows(rel.rows)})"


def human_rows(rows: float | None) -> str:
    """~41M rows, ~50k rows; the estimate comes from the last ANALYZE or VACUUM."""
    if rows is None:
        return "row count unknown: never analyzed"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if rows >= limit:
            value = rows / limit
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"~{text.removesuffix('.0')}{suffix} rows"
    return f"~{rows:.0f} rows"


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def _evidence(
    rel: Relation, work: int, seconds: float, rate: int, lock: tuple[str, str]
) -> dict[str, Any]:
    return {
        "table": rel.qualified,
        "relkind": rel.kind,
        "table_bytes": rel.table_bytes,
        "total_bytes": rel.total_bytes,
        "rows_estimate": None if rel.rows is None else int(rel.rows),
        "work_bytes": work,
        "lock": lock[0],
        "blocks": lock[1],
        "estimated_seconds": round(seconds, 1),
        "assumed_mb_per_s": rate,
    }
