"""Read the policies: how identity reaches the database, and which columns name the owner.

Pure over a snapshot. A policy comparing a column with `auth.uid()` (Supabase), with
`current_setting('app.tenant_id')` (a custom setting) or with a subquery around either
says two things: the identity mechanism, and that the column holds the owner's id.
Foreign keys then carry ownership to other tables: every column referencing the same key
is an owner column, and a table whose only link is a foreign key to an owned table is
owned through its parent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pglast import ast
from psycopg import sql

from prodready.db.checks.rls import parse_expression
from prodready.db.snapshot import Column, Policy, Snapshot, Table
from prodready.rls.model import Identity, OwnerPath
from prodready.sqlgen import render
from prodready.sqltree import nodes_of, walk

SUPABASE_CALLS = frozenset({("auth", "uid"), ("auth", "jwt"), ("uid",)})
SUPABASE_SETTINGS = ("request.jwt.claim", "request.jwt.claims")
# Column names apps use for the owner of a row, when no policy or key says so.
OWNER_NAMES = frozenset({
    "user_id", "owner_id", "org_id", "organization_id", "team_id", "tenant_id", "account_id",
    "workspace_id", "created_by", "author_id", "profile_id",
})  # fmt: skip
PLATFORM_SCHEMAS = frozenset({"auth", "storage", "realtime", "supabase_functions", "vault",
                              "graphql", "graphql_public", "pgsodium", "extensions"})  # fmt: skip


def detect_identity(snap: Snapshot) -> Identity:
    """Supabase when policies call auth.uid()/auth.jwt(), a custom setting when they read
    one with current_setting(), else none (the policies do not depend on who asks)."""
    supabase, gucs = 0, Counter[str]()
    for policy in snap.policies:
        for node in _policy_nodes(policy.using, policy.with_check):
            kind = identity_call(node)
            if kind == "supabase":
                supabase += 1
            elif kind is not None:
                gucs[kind] += 1
    if supabase:
        return Identity("supabase", None, f"{supabase} policy expressions call auth.uid()/jwt()")
    if gucs:
        name, count = gucs.most_common(1)[0]
        return Identity("guc", name, f"{count} policy expressions read current_setting('{name}')")
    return Identity("none", None, "no policy depends on who is asking")


def _policy_nodes(*expressions: str | None) -> list[ast.Node]:
    nodes: list[ast.Node] = []
    for expression in expressions:
        node = parse_expression(expression)
        if node is not None:
            nodes.extend(walk(node))
    return nodes


def identity_call(node: ast.Node) -> str | None:
    """'supabase', a GUC name, or None for any other node."""
    if not isinstance(node, ast.FuncCall) or not node.funcname:
        return None
    name = tuple(str(part.sval) for part in node.funcname)
    if name in SUPABASE_CALLS:
        return "supabase"
    if name[-1] == "current_setting" and node.args:
        value = _string_constant(node.args[0])
        if value is not None:
            return "supabase" if value.startswith(SUPABASE_SETTINGS) else value
    return None


def public_readers(snap: Snapshot, schema: str, table: str) -> set[str]:
    """Roles (or 'public') given rows by a SELECT policy that never asks who is asking:
    `USING (true)`, `USING (status = 'active')`. Rows they see without an identity are
    public by design; rows seen through an identity test's escape are not."""
    found: set[str] = set()
    for policy in snap.policies_by_table.get((schema, table), []):
        if not policy.permissive or policy.command not in ("SELECT", "ALL"):
            continue
        node = parse_expression(policy.using)
        if node is not None and not mentions_identity(node):
            found |= set(policy.roles)
    return found


def metadata_claims(snap: Snapshot, schema: str, table: str) -> dict[str, str]:
    """What a policy on the table wants to see in the JWT's `user_metadata` (which the
    user can edit with supabase.auth.updateUser): {"role": "admin"} for
    `(auth.jwt() -> 'user_metadata' ->> 'role') = 'admin'`."""
    wanted: dict[str, str] = {}
    for _, side, other in _equalities(snap.policies_by_table.get((schema, table), [])):
        keys = [
            str(c.val.sval) for c in nodes_of(side, ast.A_Const) if isinstance(c.val, ast.String)
        ]
        value = _string_constant(other)
        if "user_metadata" in keys and value is not None and keys[-1] != "user_metadata":
            wanted[keys[-1]] = value
    return wanted


def _string_constant(node: object) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def mentions_identity(node: object) -> bool:
    return any(identity_call(n) is not None for n in walk(node))


def policy_owner_columns(snap: Snapshot) -> set[tuple[str, str, str]]:
    """(schema, table, column) that some policy compares with the caller's identity."""
    found: set[tuple[str, str, str]] = set()
    for policy, side, other in _equalities(snap.policies):
        column = _own_column(side, policy.table)
        if column is not None and mentions_identity(other):
            found.add((policy.schema, policy.table, column))
    return found


def _equalities(policies: list[Policy]) -> Iterator[tuple[Policy, object, object]]:
    """Every `a = b` in the policies' expressions, once as (a, b) and once as (b, a)."""
    for policy in policies:
        for expression in (policy.using, policy.with_check):
            root = parse_expression(expression)
            if root is None:
                continue
            for cmp in nodes_of(root, ast.A_Expr):
                if cmp.name and str(cmp.name[-1].sval) == "=":
                    yield policy, cmp.lexpr, cmp.rexpr
                    yield policy, cmp.rexpr, cmp.lexpr


def _own_column(node: object, table: str) -> str | None:
    """A column of the policy's own table: `col` or `table.col` (not another alias)."""
    if not isinstance(node, ast.ColumnRef) or not node.fields:
        return None
    parts = [getattr(f, "sval", None) for f in node.fields]
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == table):
        return str(parts[-1]) if parts[-1] else None
    return None


def owner_paths(snap: Snapshot) -> dict[tuple[str, str], list[OwnerPath]]:
    """How each table's rows map to an owner: direct columns first, then through a parent."""
    columns = {(c.schema, c.table, c.name): c for c in snap.columns}
    direct = policy_owner_columns(snap)
    targets = _key_targets(snap, direct)
    fks = _single_column_fks(snap)
    for (schema, table, column), ref in fks.items():
        if ref in targets:
            direct.add((schema, table, column))
    owner_types = {columns[d].type for d in direct if d in columns}
    for c in snap.columns:
        if (
            c.name in OWNER_NAMES
            and c.type in owner_types
            and (c.schema, c.table, c.name) not in fks
        ):
            direct.add((c.schema, c.table, c.name))
    paths: dict[tuple[str, str], list[OwnerPath]] = {}
    for schema, table, column in sorted(direct):
        if (schema, table, column) in columns and schema not in PLATFORM_SCHEMAS:
            paths.setdefault((schema, table), []).append(_direct(columns[(schema, table, column)]))
    for (schema, table, column), (ref_schema, ref_table, ref_column) in sorted(fks.items()):
        parent = paths.get((ref_schema, ref_table))
        own = paths.get((schema, table))
        if (own and any(p.direct for p in own)) or not parent or schema in PLATFORM_SCHEMAS:
            continue
        if not any(p.direct for p in parent):
            continue
        paths.setdefault((schema, table), []).append(
            _through_parent(column, ref_schema, ref_table, ref_column, parent)
        )
    return paths


def _key_targets(snap: Snapshot, direct: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The keys owner columns refer to (users.id, auth.users.id), or are (users.id itself)."""
    fks = _single_column_fks(snap)
    targets = {fks[d] for d in direct if d in fks}
    for schema, table, column in direct:
        key = _primary_key(snap, schema, table)
        if key == [column]:
            targets.add((schema, table, column))
    return targets


def _single_column_fks(snap: Snapshot) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    found = {}
    for con in snap.constraints:
        if con.type == "f" and len(con.columns) == 1 and con.ref_columns and con.ref_table:
            found[(con.schema, con.table, con.columns[0])] = (
                con.ref_schema or con.schema, con.ref_table, con.ref_columns[0],
            )  # fmt: skip
    return found


def _primary_key(snap: Snapshot, schema: str, table: str) -> list[str]:
    for con in snap.constraints_by_table.get((schema, table), []):
        if con.type == "p":
            return list(con.columns)
    return []


def table_key(snap: Snapshot, table: Table) -> list[str]:
    return _primary_key(snap, table.schema, table.name) or ["ctid"]


def _direct(column: Column) -> OwnerPath:
    predicate = sql.SQL("t.{} = CAST(%(subject)s AS {})").format(
        sql.Identifier(column.name), sql.SQL(column.type)
    )
    return OwnerPath(render(predicate), column.name, True, f"{column.name} is the owner's id")


def _through_parent(
    column: str, ref_schema: str, ref_table: str, ref_column: str, parent: list[OwnerPath]
) -> OwnerPath:
    owned = " OR ".join(p.predicate.replace("t.", "p.", 1) for p in parent if p.direct)
    predicate = sql.SQL("EXISTS (SELECT 1 FROM {} p WHERE p.{} = t.{} AND ({}))").format(
        sql.Identifier(ref_schema, ref_table), sql.Identifier(ref_column),
        sql.Identifier(column), sql.SQL(owned or "false"),
    )  # fmt: skip
    return OwnerPath(
        render(predicate),
        column,
        False,
        f"{column} points at {ref_schema}.{ref_table}, whose owner owns the row",
        (ref_schema, ref_table, ref_column),
    )


def app_roles(snap: Snapshot, identity: Identity) -> list[str]:
    """Roles the app's queries run as: holding table grants themselves (or inheriting
    them), neither superuser nor BYPASSRLS. A NOINHERIT gateway such as Supabase's
    `authenticator` only switches to them, so it is not one."""
    from prodready.db.acl import AccessModel, parse_acl

    model = AccessModel(snap)
    roles = set(model.candidates)
    if identity.mode == "supabase":
        roles |= {r for r in ("anon", "authenticated") if r in snap.role_map}
    granted = {item.grantee for t in snap.tables for item in parse_acl(t.acl) or ()}
    # a login role that owns tables reaches them without grants, and without RLS unless
    # FORCE ROW LEVEL SECURITY: when the app connects as the owner, that is the leak
    owners = {t.owner for t in snap.tables if t.extension is None}
    granted |= owners
    roles |= {o for o in owners if (r := snap.role_map.get(o)) is not None and r.login}

    def holds_grants(name: str) -> bool:
        role = snap.role_map.get(name)
        inherits = role is None or role.inherit
        return name in granted or (inherits and bool(model.graph.reach(name) & granted))

    return sorted(r for r in roles if not model.graph.bypasses_rls(r) and holds_grants(r))
