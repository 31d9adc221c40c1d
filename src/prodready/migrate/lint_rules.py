"""Size-aware migration rules: what a statement locks, what it rewrites or scans, for how long.

squawk knows which statements are risky in general; these rules know how big the table
behind each one is. They are pure functions over a parsed statement and a `Catalog` (facts
read from the live database), so they are tested from hand-built facts.

Durations are rough on purpose. They assume ~50 MB/s for work that writes (a table rewrite,
an index build) and ~100 MB/s for a read-only scan: a conservative figure for cloud disks.
Real speed depends on I/O, CPU, maintenance_work_mem and concurrent load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType, ReindexObjectType

from prodready.migrate.lint_estimate import (
    ACCESS_EXCLUSIVE,
    REINDEX_LOCK,
    SCAN_MB_S,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    WRITE_MB_S,
    describe,
    human_duration,
    human_rows,
    lock_phrase,
    size_evidence,
    work_seconds,
)
from prodready.migrate.lint_exprs import (
    check_definition_columns,
    has_option,
    names_of,
    volatile_functions,
)
from prodready.migrate.lint_facts import Catalog, Column, Hit, Relation, Sizes, TypeTarget
from prodready.migrate.lint_state import FileContext, RunState, lookup, same_table, table_key, track
from prodready.migrate.lint_types import type_change_rewrites, type_display, typmod_widens

__all__ = [
    "RULES",
    "SCAN_MB_S",
    "SERIAL_TYPES",
    "WRITE_MB_S",
    "Catalog",
    "Column",
    "FileContext",
    "Hit",
    "LintRule",
    "Relation",
    "RunState",
    "Sizes",
    "TypeTarget",
    "add_column_rewrite",
    "add_constraint",
    "alter_column_type",
    "blocking_index_build",
    "cannot_run_in_transaction",
    "check_definition_columns",
    "human_duration",
    "human_rows",
    "rewriting_column",
    "set_not_null",
    "size_hits",
    "typmod_widens",
    "validate_in_same_transaction",
]

SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})


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
    if isinstance(node, ast.ReindexStmt) and has_option(node.params, "concurrently"):
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


def _target(rv: ast.RangeVar | None, inputs: _Inputs) -> Relation | None:
    """The existing table a statement works on; None when new in this run or unknown."""
    if rv is None:
        return None
    key = table_key(rv)
    if any(same_table(key, created) for created in inputs.ctx.created):
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
    seconds = work_seconds(rel.total_bytes, WRITE_MB_S)
    yield Hit(
        rule="table-rewrite",
        level=level,
        message=(
            f"{action} rewrites {describe(rel, rel.total_bytes)} under "
            f"{lock_phrase(ACCESS_EXCLUSIVE)}, {human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help=_REWRITE_HELP.get(action.split()[0], _REWRITE_HELP["default"]),
        evidence=size_evidence(rel, rel.total_bytes, seconds, WRITE_MB_S, ACCESS_EXCLUSIVE)
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
    rewrite, why = type_change_rewrites(coldef, cmd.name, column, inputs.catalog)
    if not rewrite:
        return
    new_type = type_display(coldef.typeName)
    old = column.display_type if column else "unknown"
    extra = {"column": cmd.name, "old_type": old, "new_type": new_type, "reason": why}
    action = f"ALTER COLUMN {cmd.name} TYPE {new_type}"
    yield from _rewrite(action, rel, inputs, extra)


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


def _set_tablespace(cmd: ast.AlterTableCmd, rel: Relation, inputs: _Inputs) -> Iterator[Hit]:
    """SET TABLESPACE copies the relation's files (not its indexes) under ACCESS EXCLUSIVE."""
    work = rel.table_bytes
    level = inputs.sizes.level(work, rel.rows)
    if level is None:
        return
    seconds = work_seconds(work, WRITE_MB_S)
    yield Hit(
        rule="table-rewrite",
        level=level,
        message=(
            f"SET TABLESPACE {cmd.name} copies {describe(rel, work)} under "
            f"{lock_phrase(ACCESS_EXCLUSIVE)}, {human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help="Move large tables with pg_repack --tablespace, which holds only brief locks.",
        evidence=size_evidence(rel, work, seconds, WRITE_MB_S, ACCESS_EXCLUSIVE)
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
    if not has_option(node.options, "full"):
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
    seconds = work_seconds(work, WRITE_MB_S)
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
            f"{action} builds over {describe(rel, work)} under {lock_phrase(lock)}, "
            f"{human_duration(seconds)} at ~{WRITE_MB_S} MB/s"
        ),
        help=fix,
        evidence=size_evidence(rel, work, seconds, WRITE_MB_S, lock) | {"rewrites": False} | extra,
    )


def _reindex(node: ast.ReindexStmt, inputs: _Inputs) -> Iterator[Hit]:
    if has_option(node.params, "concurrently") or node.relation is None:
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
        if name == cmd.name and same_table(other, key):
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
    seconds = work_seconds(work, SCAN_MB_S)
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
            f"{action} scans {describe(rel, work)} under {lock[0]} ({lock[1]}{also}), "
            f"{human_duration(seconds)} at ~{SCAN_MB_S} MB/s"
        ),
        help=help_text,
        evidence=size_evidence(rel, work, seconds, SCAN_MB_S, lock)
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
    if column_name in lookup(inputs.state.not_null_cols, key):
        return
    action = f"SET NOT NULL on {column_name}"
    extra = {"column": column_name, "validated_not_null_check": False}
    yield from _scan(action, rel, ACCESS_EXCLUSIVE, inputs, extra, "", "set-not-null-full-scan")
