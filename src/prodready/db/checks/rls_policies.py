"""What a policy's text says about isolation: owners that skip RLS, writes that are not
pinned to the owner, escapes for missing identities, claims the user can edit, columns the
user can change, definer functions and materialized views that hand rows out."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, parse_sql
from pglast.enums import BoolExprType
from pglast.parser import ParseError
from psycopg import sql

from prodready import sqlgen
from prodready.db.acl import API_ROLES, PUBLIC, AccessModel, platform_schemas
from prodready.db.checks.rls import is_constant_true, parse_expression
from prodready.db.checks.shared import Partitions
from prodready.db.snapshot import Policy, Snapshot, Table, qualify, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.rls.identity import mentions_identity, policy_owner_columns
from prodready.sqltree import nodes_of, walk

# Roles a platform gives BYPASSRLS on purpose (server-side keys, admin consoles).
PLATFORM_BYPASS_ROLES = frozenset({"service_role", "supabase_admin", "rds_superuser",
                                   "cloudsqlsuperuser", "azure_pg_admin", "postgres"})  # fmt: skip


def _policies(snap: Snapshot) -> Iterator[tuple[Table, Policy]]:
    skip = platform_schemas(snap)
    for table in snap.tables:
        if not table.rls_enabled or table.extension is not None or table.schema in skip:
            continue
        for policy in snap.policies_by_table.get(table.ident, []):
            yield table, policy


def _policy_object(policy: Policy) -> str:
    return f"{policy.table_qualified} (policy {quote_ident(policy.name)})"


# -- rls_leak_proven --


@check(
    "rls_leak_proven",
    title="Cross-tenant leak proven by attack",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
)
def rls_leak_proven(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """`audit --rls-test` acted as one real tenant against another's rows and got through:
    read, changed, moved or wrote rows it must not reach. Not a reading of the policies but
    a fact, with the SQL that reproduces it (run inside a transaction that is rolled back).
    Fix the policy the finding names, then run `prodready rls-test` again."""
    for leak in snap.rls_leaks or []:
        yield Issue(
            object=f"{leak.table} ({leak.command} as {leak.role})",
            detail=(
                f"As tenant A, role {quote_ident(leak.role)} reached {leak.rows} row(s) of "
                f"tenant B in {leak.table} ({leak.kind.replace('_', ' ')}): {leak.policy}. "
                f"Fix: {leak.fix}."
            ),
            evidence={
                "kind": leak.kind,
                "rows": leak.rows,
                "policy": leak.policy,
                "reproduce": leak.statement,
            },
            verify="prodready rls-test reports no leak for this table",
        )


# -- rls_not_forced --


@check(
    "rls_not_forced",
    title="The table's owner skips its row-level security",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
)
def rls_not_forced(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """RLS does not apply to a table's owner unless FORCE ROW LEVEL SECURITY is set. When
    the application connects as the role that owns its tables (common in Django, Rails and
    Node apps that run their own migrations), every policy is silently skipped. High when
    sessions of the owner are connected right now, medium otherwise. Fix: `ALTER TABLE ...
    FORCE ROW LEVEL SECURITY` (migrations run as the owner then obey the policies too), or
    give the app its own role. `rls-test` proves it by attacking as the owner."""
    model = AccessModel(snap)
    connected = {a.user for a in snap.activity if a.same_database and not a.is_self and a.user}
    for table in snap.tables:
        if not table.rls_enabled or table.rls_forced or table.extension is not None:
            continue
        owner = snap.role_map.get(table.owner)
        if owner is None or not owner.login or model.graph.bypasses_rls(owner.name):
            continue
        if not snap.policies_by_table.get(table.ident):
            continue  # no policy at all: rls_enabled_no_policy speaks for it
        live = owner.name in connected
        name = sql.Identifier(table.schema, table.name)
        yield Issue(
            object=table.qualified,
            severity=Severity.HIGH if live else None,
            detail=(
                f"{table.qualified} is owned by login role {quote_ident(owner.name)}, and RLS "
                "is not FORCEd: sessions as that role skip every policy"
                + (" (such sessions are connected now)." if live else ".")
            ),
            evidence={"owner": owner.name, "owner_connected": live},
            fix=Fix(
                sqlgen.render(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(name)),
                sqlgen.render(sql.SQL("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY").format(name)),
                needs_review=True,
            ),
            verify=f"SELECT relforcerowsecurity FROM pg_class WHERE oid = '{table.qualified}'"
            "::regclass",
        )


# -- policy_missing_with_check --


@check(
    "policy_missing_with_check",
    title="Write policy does not pin the row to its owner",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def policy_missing_with_check(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """An INSERT, UPDATE or ALL policy whose WITH CHECK never asks who is writing (while its
    USING does, or while other policies on the table do): a user can write rows owned by
    another tenant, or move their own rows there. PostgreSQL only falls back on USING when
    WITH CHECK is absent. `WITH CHECK (true)` is `rls_policy_always_true`'s. Fix: repeat the
    owner test in WITH CHECK, e.g. `WITH CHECK (user_id = (SELECT auth.uid()))`."""
    scoped = {(s, t) for s, t, _ in policy_owner_columns(snap)}
    for table, policy in _policies(snap):
        if not policy.permissive or policy.command not in ("INSERT", "UPDATE", "ALL"):
            continue
        check_node = parse_expression(policy.with_check)
        if check_node is None or is_constant_true(policy.with_check):
            continue
        using_node = parse_expression(policy.using)
        identity_scoped = (using_node is not None and mentions_identity(using_node)) or (
            table.ident in scoped
        )
        if not identity_scoped or mentions_identity(check_node) or _calls_function(check_node):
            continue
        yield Issue(
            object=_policy_object(policy),
            detail=(
                f"Policy {quote_ident(policy.name)} on {table.qualified} ({policy.command}) "
                f"checks written rows with WITH CHECK ({policy.with_check}), which never asks "
                "who is writing: rows can be written for, or moved to, another tenant."
            ),
            evidence={
                "command": policy.command,
                "using": policy.using,
                "with_check": policy.with_check,
            },
        )


def _calls_function(node: object) -> bool:
    """A helper function may test the caller itself (is_member(team_id)): give it the benefit."""
    return any(isinstance(n, ast.FuncCall) for n in walk(node))


# -- policy_null_escape --


@check(
    "policy_null_escape",
    title="Policy lets everyone in when the caller's identity is missing",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def policy_null_escape(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """`auth.uid() IS NULL OR ...`, `current_setting('app.tenant_id', true) IS NULL OR ...`
    or `COALESCE(<identity test>, true)` make the policy pass every row exactly when nobody
    is signed in (an anon request, a background job, a pooled connection whose setting was
    never set); `auth.uid() IS NOT NULL OR ...` passes every row for every signed-in user.
    Critical when anon or PUBLIC may use the policy. Fix: drop the escape; give jobs their
    own role instead."""
    for table, policy in _policies(snap):
        for expression in (policy.using, policy.with_check):
            node = parse_expression(expression)
            if node is None or not _has_null_escape(node):
                continue
            anyone = PUBLIC in policy.roles or "anon" in policy.roles
            yield Issue(
                object=_policy_object(policy),
                severity=Severity.CRITICAL if anyone else None,
                detail=(
                    f"Policy {quote_ident(policy.name)} on {table.qualified} passes every row "
                    f"when the caller's identity is missing: ({expression})."
                ),
                evidence={
                    "command": policy.command,
                    "expression": expression,
                    "roles": policy.roles,
                },
            )
            break


def _has_null_escape(root: object) -> bool:
    for node in walk(root):
        if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.OR_EXPR:
            for arg in node.args or ():
                # IS NULL: everyone when nobody signed in; IS NOT NULL: every signed-in user
                if isinstance(arg, ast.NullTest) and mentions_identity(arg.arg):
                    return True
        if isinstance(node, ast.CoalesceExpr):
            args = list(node.args or ())
            if (
                len(args) >= 2
                and is_constant_true(_deparse(args[-1]))
                and any(mentions_identity(a) for a in args[:-1])
            ):
                return True
    return False


def _deparse(node: ast.Node) -> str | None:
    from pglast.stream import RawStream

    try:
        return str(RawStream()(node))
    except Exception:
        return None


# -- policy_user_metadata --


@check(
    "policy_user_metadata",
    title="Policy trusts JWT user_metadata, which users edit themselves",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
)
def policy_user_metadata(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Supabase puts `user_metadata` into the JWT from data every signed-in user can change
    (`supabase.auth.updateUser({ data: ... })`), so a policy that grants access from it
    grants access to whoever writes the right value. Fix: use `app_metadata` (only the
    server can set it) or a table the user cannot write."""
    for table, policy in _policies(snap):
        text = f"{policy.using or ''} {policy.with_check or ''}"
        if "user_metadata" not in text:
            continue
        nodes = [parse_expression(policy.using), parse_expression(policy.with_check)]
        reads = any(
            isinstance(c.val, ast.String) and c.val.sval == "user_metadata"
            for n in nodes if n is not None
            for c in nodes_of(n, ast.A_Const)
        )  # fmt: skip
        if reads:
            yield Issue(
                object=_policy_object(policy),
                detail=(
                    f"Policy {quote_ident(policy.name)} on {table.qualified} reads "
                    "user_metadata from the JWT: any user can set it for themselves."
                ),
                evidence={"using": policy.using, "with_check": policy.with_check},
            )


# -- policy_mutable_column --


@check(
    "policy_mutable_column",
    title="Policy trusts a column the same user can change",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def policy_mutable_column(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A policy grants access from a column of the caller's own row (`users.role = 'admin'`,
    `members.role = 'owner'`) that the same API roles may UPDATE on that row: one UPDATE
    of their own row and they pass. Fix: revoke UPDATE on that column (column-level grants),
    or pin it with a WITH CHECK / trigger that forbids changing it."""
    model = AccessModel(snap, API_ROLES)
    for table, policy in _policies(snap):
        found = _mutable_trust(snap, model, policy)
        if found is None:
            continue
        (target, column), writers = found
        yield Issue(
            object=_policy_object(policy),
            detail=(
                f"Policy {quote_ident(policy.name)} on {table.qualified} trusts "
                f"{qualify(*target)}.{quote_ident(column)}, which {', '.join(writers)} may "
                "UPDATE on their own row."
            ),
            evidence={"column": f"{qualify(*target)}.{column}", "writers": writers},
        )


def _mutable_trust(
    snap: Snapshot, model: AccessModel, policy: Policy
) -> tuple[tuple[tuple[str, str], str], list[str]] | None:
    """The first trusted column the API roles may rewrite on their own row, with who may."""
    for expression in (policy.using, policy.with_check):
        node = parse_expression(expression)
        if node is None:
            continue
        for target, column in _trusted_columns(node, policy.schema):
            writers = _updaters(snap, model, target, column)
            if writers:
                return (target, column), writers
    return None


def _trusted_columns(node: object, schema: str) -> Iterator[tuple[tuple[str, str], str]]:
    """Columns of a subquery's table compared with a constant, where the same subquery
    picks the caller's own row (another column compared with the identity)."""
    for link in nodes_of(node, ast.SubLink):
        select = link.subselect
        if not isinstance(select, ast.SelectStmt) or not select.fromClause:
            continue
        tables = [rv for rv in nodes_of(select.fromClause, ast.RangeVar)]
        if len(tables) != 1 or select.whereClause is None:
            continue
        own_row = False
        constants: list[str] = []
        for cmp in nodes_of(select.whereClause, ast.A_Expr):
            sides = (cmp.lexpr, cmp.rexpr)
            column = next((s for s in sides if isinstance(s, ast.ColumnRef)), None)
            other = next((s for s in sides if s is not column), None)
            if column is None or other is None:
                continue
            name = getattr((column.fields or ())[-1], "sval", None)
            if mentions_identity(other):
                own_row = True
            elif isinstance(_unwrap(other), ast.A_Const) and name:
                constants.append(str(name))
        if own_row:
            rv = tables[0]
            for name in constants:
                yield (rv.schemaname or schema, rv.relname or ""), name


def _unwrap(node: object) -> object:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node


def _updaters(
    snap: Snapshot, model: AccessModel, target: tuple[str, str], column: str
) -> list[str]:
    """API roles that may UPDATE that column on their own row."""
    table = snap.table(*target)
    if table is None:
        return []
    columns = [(c.name, c.acl) for c in snap.columns_by_table.get(target, []) if c.name == column]
    exposure = model.table_exposure(table.acl, table.owner, table.schema, ["UPDATE"], columns,
                                    rls=True)  # fmt: skip
    roles = [r for r in exposure.api if r != "anon"] + (["PUBLIC"] if exposure.public else [])
    if not roles or not table.rls_enabled:
        return roles
    updates = [p for p in snap.policies_by_table.get(target, [])
               if p.permissive and p.command in ("UPDATE", "ALL")]  # fmt: skip
    return roles if updates else []


# -- security_definer_function_exposed --


@check(
    "security_definer_function_exposed",
    title="SECURITY DEFINER function callable by the API roles",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES)},
)
def security_definer_function_exposed(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A SECURITY DEFINER function runs with its owner's rights, RLS bypassed when the owner
    bypasses it. New functions are executable by PUBLIC unless that default is revoked, so
    in a schema the API exposes, anon and authenticated can call it with any argument.
    High for anon or PUBLIC, medium when only signed-in users can. Fix: REVOKE EXECUTE
    ... FROM PUBLIC, anon (grant it back to the roles that need it), and check the caller
    inside the function. Trigger functions cannot be called and are left out."""
    model = AccessModel(snap, opts["api_roles"])
    skip = platform_schemas(snap)
    for fn in snap.functions:
        if not fn.security_definer or fn.extension is not None or fn.is_trigger:
            continue
        if fn.schema in skip or fn.kind not in ("f", "p"):
            continue
        exposure = model.function_exposure(fn.acl, fn.owner, fn.schema)
        if not exposure.api:
            continue
        anonymous = exposure.public or "anon" in exposure.api
        ref = sql.SQL("{} {}({})").format(
            sql.SQL("PROCEDURE" if fn.kind == "p" else "FUNCTION"),
            sql.Identifier(fn.schema, fn.name), sql.SQL(fn.identity_args),
        )  # fmt: skip
        grantees = [r for r in ("anon",) if r in exposure.api]
        revoke = sql.SQL("REVOKE EXECUTE ON {} FROM {}").format(
            ref, sql.SQL(", ").join([sql.SQL("PUBLIC"), *map(sql.Identifier, grantees)])
        )
        grant = sql.SQL("GRANT EXECUTE ON {} TO {}").format(
            ref, sql.SQL(", ").join([sql.SQL("PUBLIC"), *map(sql.Identifier, grantees)])
        )
        yield Issue(
            object=fn.signature,
            severity=None if anonymous else Severity.MEDIUM,
            detail=(
                f"{fn.signature} is SECURITY DEFINER (runs as {quote_ident(fn.owner)}) and "
                f"{', '.join(exposure.who())} may call it through the API."
            ),
            evidence={
                "owner": fn.owner,
                "executable_by": exposure.who(),
                "grants": exposure.grants(),
            },
            fix=Fix(sqlgen.render(revoke), sqlgen.render(grant), needs_review=True),
        )


# -- app_role_bypassrls --


@check(
    "app_role_bypassrls",
    title="An application role bypasses row-level security",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def app_role_bypassrls(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A role that holds DML grants on RLS tables has BYPASSRLS (itself or through a role it
    can become): every policy is skipped for it. Platform roles meant for server-side keys
    (service_role) are left out. Fix: `ALTER ROLE ... NOBYPASSRLS`, or use it only from
    trusted server code."""
    model = AccessModel(snap)
    rls_tables = [t for t in snap.tables if t.rls_enabled and t.extension is None]
    if not rls_tables:
        return
    for role in snap.roles:
        if role.superuser or role.name in PLATFORM_BYPASS_ROLES or not role.login:
            continue
        # through a platform role it may become (Supabase's gateway -> service_role): by design
        sources = model.graph.reach(role.name) - PLATFORM_BYPASS_ROLES
        if not any((r := snap.role_map.get(n)) is not None and r.bypassrls for n in sources):
            continue
        reached = [
            t.qualified
            for t in rls_tables
            if role.name
            in model.table_exposure(t.acl, t.owner, t.schema, ["SELECT", "UPDATE"]).roles
        ]
        if reached:
            yield Issue(
                object=f"role {quote_ident(role.name)}",
                detail=(
                    f"Login role {quote_ident(role.name)} bypasses row-level security and "
                    f"reaches {len(reached)} RLS table(s) ({', '.join(reached[:5])})."
                ),
                evidence={"role": role.name, "tables": reached[:20]},
            )


# -- policy_tenant_column_unindexed --


@check(
    "policy_tenant_column_unindexed",
    title="Column a policy filters every row by has no index",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"small_table_rows": 10_000},
)
def policy_tenant_column_unindexed(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Every query through a policy like `user_id = (SELECT auth.uid())` filters by that
    column; without an index leading with it, each one scans the table. Foreign keys are
    left to `unindexed_foreign_key`. Low on small tables. Fix: CREATE INDEX CONCURRENTLY."""
    fks = {(c.schema, c.table, c.columns[0]) for c in snap.constraints
           if c.type == "f" and len(c.columns) == 1}  # fmt: skip
    partitions = Partitions(snap)
    for schema, name, column in sorted(policy_owner_columns(snap)):
        table = snap.table(schema, name)
        if table is None or table.extension is not None or (schema, name, column) in fks:
            continue
        indexes = snap.indexes_by_table.get(table.ident, [])
        if any(i.is_valid and i.key_columns[:1] == [column] for i in indexes):
            continue
        rows = partitions.rows(table) or 0
        index = sql.Identifier(f"{name}_{column}_idx"[:63])
        target = sql.Identifier(schema, name)
        yield Issue(
            object=f"{table.qualified} ({quote_ident(column)})",
            severity=Severity.LOW if rows < opts["small_table_rows"] else None,
            detail=(
                f"Policies on {table.qualified} filter by {quote_ident(column)}, which no "
                f"index leads with: every query scans its {rows:,} rows."
            ),
            evidence={"rows": rows, "column": column},
            fix=Fix(
                sqlgen.render(
                    sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({})").format(
                        index, target, sql.Identifier(column)
                    )
                ),
                sqlgen.render(
                    sql.SQL("DROP INDEX CONCURRENTLY {}").format(
                        sql.Identifier(schema, f"{name}_{column}_idx"[:63])
                    )
                ),
                transactional=False,
            ),
        )


# -- view_bypasses_rls --


@check(
    "view_bypasses_rls",
    title="Materialized view copies rows out from under row-level security",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def view_bypasses_rls(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A materialized view is filled by its owner, so it holds every row of the RLS tables
    it reads (when the owner bypasses RLS or owns them), and security_invoker cannot apply
    to it: whoever may SELECT from it reads those rows. (Plain views are
    `security_definer_view`'s.) Fix: revoke SELECT from the API roles and serve it through
    a security_invoker view or a function that filters by the caller."""
    model = AccessModel(snap, API_ROLES)
    rls = {t.ident: t for t in snap.tables if t.rls_enabled}
    for view in snap.views:
        if view.kind != "m" or view.extension is not None or not view.definition:
            continue
        read = _reads(view.definition) & set(rls)
        if not read:
            continue
        exposure = model.table_exposure(view.acl, view.owner, view.schema, ["SELECT"])
        if not exposure:
            continue
        names = sorted(qualify(*r) for r in read)
        yield Issue(
            object=view.qualified,
            detail=(
                f"Materialized view {view.qualified} holds rows of {', '.join(names)} as its "
                f"owner saw them, and {', '.join(exposure.who())} may read it whole."
            ),
            evidence={"reads": names, "exposed_to": exposure.who()},
        )


def _reads(definition: str) -> set[tuple[str, str]]:
    try:
        tree = parse_sql(definition)
    except ParseError:
        return set()
    return {(rv.schemaname or "public", rv.relname or "") for rv in nodes_of(tree, ast.RangeVar)}
