"""Ways around a table's policies: views that run as their owner, SECURITY DEFINER functions.

Both run with their owner's rights, so RLS on the tables they read does not apply to the
caller. A probe counts what one of them shows of tenant B's rows; the runner calls it a
leak only when the table itself hides those rows from the same role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import sql

from prodready.db.acl import AccessModel
from prodready.db.snapshot import Function, Snapshot, View
from prodready.rls.identity import PLATFORM_SCHEMAS
from prodready.rls.model import TenantTable
from prodready.sqltree import nodes_of

if TYPE_CHECKING:
    from prodready.rls.discover import Bypass, Plan


def owner_views(snap: Snapshot, plan: Plan) -> list[Bypass]:
    from pglast import ast, parse_sql
    from pglast.parser import ParseError

    from prodready.rls.discover import Bypass

    tables = {(t.schema, t.name): t for t in plan.tables if t.tenant_b}
    found = []
    for view in snap.views:
        if not _runs_as_owner(view) or view.schema in PLATFORM_SCHEMAS or not view.definition:
            continue
        try:
            reads = {(rv.schemaname or "public", rv.relname or "") for rv in
                     nodes_of(parse_sql(view.definition), ast.RangeVar)}  # fmt: skip
        except ParseError:
            continue
        columns = {c.name: c.type for c in snap.columns_by_table.get((view.schema, view.name), [])}
        for key in sorted(reads):
            table = tables.get(key)
            path = _shown_owner(table, columns) if table else None
            if table is None or path is None:
                continue
            query = sql.SQL("SELECT count(*) FROM {} t WHERE t.{} = CAST({} AS {})").format(
                sql.Identifier(view.schema, view.name), sql.Identifier(path),
                sql.Literal(table.values_b[path]), sql.SQL(columns[path]),
            )  # fmt: skip
            roles = _view_roles(snap, view, plan.roles)
            found.append(Bypass("view", view.qualified, query, table.qualified, roles))
            break
    return found


def _runs_as_owner(view: View) -> bool:
    if view.kind != "v" or view.extension is not None:
        return False
    options = {o.split("=", 1)[0]: o.split("=", 1)[-1] for o in view.options}
    return options.get("security_invoker", "false").lower() not in ("true", "on", "1", "yes")


def _shown_owner(table: TenantTable, columns: dict[str, str]) -> str | None:
    """A direct owner column of the table that the view shows under the same name."""
    for path in table.owners:
        same_type = columns.get(path.column) == table.types.get(path.column)
        if path.direct and same_type and table.values_b.get(path.column):
            return path.column
    return None


def _view_roles(snap: Snapshot, view: View, roles: list[str]) -> list[str]:
    exposure = AccessModel(snap).table_exposure(view.acl, view.owner, view.schema, ["SELECT"],
                                                kind="relation")  # fmt: skip
    reach = set(exposure.roles) | ({"*"} if exposure.public else set())
    return [r for r in roles if r in reach or "*" in reach]


def definer_functions(snap: Snapshot, plan: Plan) -> list[Bypass]:
    from prodready.rls.discover import Bypass

    model = AccessModel(snap)
    found = []
    for fn in snap.functions:
        if not _callable_definer(fn):
            continue
        arg_type = fn.identity_args.split()[-1] if fn.identity_args.strip() else ""
        for table in plan.tables:
            value = _id_for(table, arg_type)
            if value is None or not _names(fn, table):
                continue
            call = sql.SQL("{}({})").format(
                sql.Identifier(fn.schema, fn.name),
                sql.SQL("CAST({} AS {})").format(sql.Literal(value), sql.SQL(arg_type)),
            )
            if fn.result_type and fn.result_type.startswith(("SETOF", "TABLE")):
                query = sql.SQL("SELECT count(*) FROM {}").format(call)
            else:
                query = sql.SQL(
                    "SELECT count(*) FROM (SELECT {} AS r) x WHERE x.r IS NOT NULL "
                    "AND CAST(x.r AS text) NOT IN ('false', '0', '')"
                ).format(call)
            exposure = model.function_exposure(fn.acl, fn.owner, fn.schema)
            reach = set(exposure.roles)
            roles = [r for r in plan.roles if exposure.public or r in reach]
            found.append(Bypass("function", fn.signature, query, table.qualified, roles))
            break
    return found


def _callable_definer(fn: Function) -> bool:
    one_argument = fn.identity_args.strip() and "," not in fn.identity_args
    return bool(
        fn.security_definer and fn.kind == "f" and fn.extension is None and not fn.is_trigger
        and fn.schema not in PLATFORM_SCHEMAS and one_argument
    )  # fmt: skip


def _id_for(table: TenantTable, arg_type: str) -> str | None:
    """B's row key, or B's owner id, when the argument's type fits one of them."""
    if table.rows_b and arg_type == table.key_type:
        return table.rows_b[0]
    for path in table.owners:
        if path.direct and table.types.get(path.column) == arg_type:
            return table.values_b.get(path.column) or None
    return None


def _names(fn: Function, table: TenantTable) -> bool:
    """The body names the table: schema-qualified, or bare in the function's own schema."""
    body = (fn.body or "").lower()
    qualified = f"{table.schema}.{table.name}".lower()
    return qualified in body or (table.schema == fn.schema and table.name.lower() in body)
