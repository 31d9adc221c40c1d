"""What earlier statements of a run did, as later statements care: tables created, constraints
added NOT VALID, columns proved NOT NULL."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from prodready.migrate.lint_estimate import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE
from prodready.migrate.lint_exprs import into_relation, not_null_columns
from prodready.migrate.lint_facts import Catalog

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


def same_table(a: TableKey, b: TableKey) -> bool:
    return a[1] == b[1] and (a[0] is None or b[0] is None or a[0] == b[0])


def lookup(mapping: dict[TableKey, set[str]], key: TableKey) -> set[str]:
    found: set[str] = set()
    for other, cols in mapping.items():
        if same_table(other, key):
            found |= cols
    return found


def track(node: ast.Node, ctx: FileContext, state: RunState, catalog: Catalog | None) -> None:
    """Remember tables this run creates, constraints added NOT VALID, columns proved NOT NULL."""
    if isinstance(node, (ast.CreateStmt, ast.CreateTableAsStmt)):
        rv = node.relation if isinstance(node, ast.CreateStmt) else into_relation(node)
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
                if name == cmd.name and same_table(other, key):
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
