"""Row-level security: tables open to other roles, ignored or empty policies, slow policies."""

from __future__ import annotations

import operator
import re
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql, parser
from pglast.enums import BoolExprType
from psycopg import sql

from prodready import sqlgen
from prodready.db.acl import (
    API_ROLES,
    PUBLIC,
    ROW_PRIVILEGES,
    WRITE_PRIVILEGES,
    AccessModel,
    Exposure,
    display_role,
    platform_schemas,
)
from prodready.db.snapshot import Policy, Snapshot, Table, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqltree import nodes_of

COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")

# Calls that read session state: the same value for every row of a statement.
SESSION_FUNCTIONS = ["auth.uid", "auth.jwt", "auth.role", "auth.email", "current_setting"]


# -- the checks --


@check(
    "rls_disabled",
    title="Table reachable by other roles without row-level security",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    options={"api_roles": list(API_ROLES), "scoped_login_roles_only": True},
)
def rls_disabled(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Roles other than the owner reach a table's rows and no policy limits which.

    Critical for Supabase/PostgREST API roles or PUBLIC writes (anyone on the internet gets
    every row); high for login roles when RLS isolates other tables by a column this one has
    (e.g. tenant_id). Write policies, then `ALTER TABLE ... ENABLE ROW LEVEL SECURITY` (with
    no policy RLS denies every row). Tables with policies: see `policy_without_rls`.
    """
    access = AccessModel(snap, opts["api_roles"])
    scoping = _scoping_columns(snap) if opts["scoped_login_roles_only"] else None
    for table in _rls_tables(snap):
        if table.rls_enabled or snap.policies_by_table.get(table.ident):
            continue
        exposure = _row_exposure(access, snap, table)
        shared = _shared_columns(snap, table, scoping)
        severity = _open_table_severity(exposure, scoping is None or bool(shared))
        if severity is None:
            continue
        parent = _protected_parent(snap, table)
        yield Issue(
            object=table.qualified,
            severity=severity,
            detail=_rls_disabled_detail(table, exposure, parent, shared),
            evidence=_exposure_evidence(exposure)
            | {"policies": 0, "scoping_columns": shared, "rls_parent": parent},
            # A partition's own RLS only governs direct access: queries through the
            # parent keep using the parent's policies, so enabling it breaks nothing.
            fix=_enable_rls(table, needs_review=parent is None),
            verify=_verify_rls(table),
        )


def _rls_disabled_detail(
    table: Table, exposure: Exposure, parent: str | None, shared: list[str]
) -> str:
    reach = f"{_who(exposure)} can {_verbs(exposure)}"
    if parent is not None:
        return (
            f"{table.qualified} is a partition of {parent}, which has row-level security, but "
            f"{reach} its rows directly, bypassing {parent}'s policies. Enabling RLS on the "
            f"partition denies only that direct access; queries through {parent} are unaffected."
        )
    detail = f"Row-level security is disabled on {table.qualified} and {reach} every row"
    if shared and not exposure.anonymous:
        detail += f", although other tables isolate rows by {', '.join(shared)} with RLS"
    return detail + (
        ". No policies exist yet: enabling RLS without policies denies all rows to these "
        "roles, so write policies first."
    )


def _scoping_columns(snap: Snapshot) -> set[str]:
    """Column names that policies on RLS-enabled tables filter by (tenant_id, user_id...)."""
    names: set[str] = set()
    enabled = {t.ident for t in snap.tables if t.rls_enabled}
    for policy in snap.policies:
        if (policy.schema, policy.table) not in enabled:
            continue
        for expression in (policy.using, policy.with_check):
            node = parse_expression(expression)
            if node is not None:
                names.update(_column_names(node))
    return names


def _column_names(node: object) -> Iterator[str]:
    if isinstance(node, ast.ColumnRef):
        last = (node.fields or ())[-1:]
        if last and isinstance(last[0], ast.String) and last[0].sval:
            yield last[0].sval
        return
    for child in _children(node):
        yield from _column_names(child)


def _shared_columns(snap: Snapshot, table: Table, scoping: set[str] | None) -> list[str]:
    if not scoping:
        return []
    return [c.name for c in snap.columns_by_table.get(table.ident, []) if c.name in scoping]


def _protected_parent(snap: Snapshot, table: Table) -> str | None:
    """The partitioned parent's name when it has RLS enabled, else None."""
    if not table.is_partition or table.parent_schema is None or table.parent_name is None:
        return None
    parent = snap.table(table.parent_schema, table.parent_name)
    return parent.qualified if parent is not None and parent.rls_enabled else None


@check(
    "policy_without_rls",
    title="Policies exist but row-level security is disabled",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES)},
)
def policy_without_rls(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A table has policies while RLS is disabled, so PostgreSQL silently ignores them.

    Someone wrote the rules and forgot `ALTER TABLE ... ENABLE ROW LEVEL SECURITY`; every
    role with a grant sees every row. Critical when API roles or PUBLIC can reach the rows,
    medium when only the owner (whom RLS does not restrict) can. Enable RLS; the fix is
    marked for review when the policies do not cover every command the roles may run.
    """
    access = AccessModel(snap, opts["api_roles"])
    for table in _rls_tables(snap):
        policies = snap.policies_by_table.get(table.ident)
        if table.rls_enabled or not policies:
            continue
        exposure = _row_exposure(access, snap, table)
        severity = _open_table_severity(exposure, True) if exposure else Severity.MEDIUM
        names = ", ".join(quote_ident(p.name) for p in policies)
        uncovered = sorted(set(exposure.privileges) - _covered_commands(policies))
        reach = (
            f"{_who(exposure)} can {_verbs(exposure)} every row"
            if exposure
            else "only the owner can reach the rows today"
        )
        count = f"{len(policies)} {'policy' if len(policies) == 1 else 'policies'}"
        detail = f"{table.qualified} has {count} ({names}) that RLS would apply, but "
        detail += f"row-level security is disabled: {reach}."
        if uncovered:
            detail += f" No policy covers {', '.join(uncovered)}, which RLS would then deny."
        yield Issue(
            object=table.qualified,
            severity=max(severity or Severity.MEDIUM, Severity.MEDIUM),
            detail=detail,
            evidence=_exposure_evidence(exposure)
            | {"policies": [p.name for p in policies], "uncovered_commands": uncovered},
            fix=_enable_rls(table, needs_review=bool(uncovered)),
            verify=_verify_rls(table),
        )


@check(
    "rls_enabled_no_policy",
    title="Row-level security enabled without any policy",
    category=Category.SECURITY,
    severity=Severity.LOW,
    options={"api_roles": list(API_ROLES)},
)
def rls_enabled_no_policy(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """RLS is enabled but no policy exists, so every role but the owner sees no rows.

    Often intentional (a table only the service role or the owner touches); a bug when the
    application's role is expected to read it. Low when other roles hold privileges that now
    return nothing, info otherwise. Add policies, or revoke the unused grants to say so.
    """
    access = AccessModel(snap, opts["api_roles"])
    for table in _rls_tables(snap):
        if not table.rls_enabled or snap.policies_by_table.get(table.ident):
            continue
        exposure = _row_exposure(access, snap, table)
        if exposure:
            detail = (
                f"{table.qualified} has row-level security enabled and no policies: "
                f"{_who(exposure)} hold {_verbs(exposure)} privileges but see no rows."
            )
        else:
            detail = (
                f"{table.qualified} has row-level security enabled and no policies; "
                "no role other than the owner has privileges on it (deny-all by design?)."
            )
        yield Issue(
            object=table.qualified,
            severity=Severity.LOW if exposure else Severity.INFO,
            detail=detail,
            evidence=_exposure_evidence(exposure) | {"rls_forced": table.rls_forced},
        )


@check(
    "rls_initplan",
    title="Policy re-evaluates a per-statement function for every row",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"functions": SESSION_FUNCTIONS, "include_stable_functions": True},
)
def rls_initplan(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A policy calls auth.uid(), current_setting(...) or another STABLE function directly.

    PostgreSQL then calls it once per row scanned; wrapped in a scalar subquery,
    `(SELECT auth.uid())`, it becomes an InitPlan evaluated once per statement, which on
    large tables is often 10-100x faster. Only calls whose arguments do not reference the
    row are rewritten, so the policy's meaning is unchanged.
    """
    targets = _target_functions(snap, opts)
    for table in _rls_tables(snap, platform=True):
        if not table.rls_enabled:
            continue
        for policy in snap.policies_by_table.get(table.ident, []):
            rewrite = _rewrite_policy(policy, targets)
            if rewrite is None:
                continue
            calls = rewrite.calls
            yield Issue(
                object=_policy_object(policy),
                detail=(
                    f"Policy {quote_ident(policy.name)} on {policy.table_qualified} calls "
                    f"{', '.join(sorted(set(calls)))} for every row; wrap each call as "
                    f"(SELECT ...) so it runs once per statement."
                ),
                evidence={
                    "calls": calls,
                    "command": policy.command,
                    "using": policy.using,
                    "with_check": policy.with_check,
                },
                fix=Fix(
                    sql=sqlgen.render(_alter_policy(policy, rewrite.using, rewrite.with_check)),
                    rollback_sql=sqlgen.render(
                        _alter_policy(
                            policy,
                            policy.using if rewrite.using is not None else None,
                            policy.with_check if rewrite.with_check is not None else None,
                        )
                    ),
                ),
                verify=(
                    "EXPLAIN a query on the table as the API role: the function call should "
                    "appear in an InitPlan, not in the row Filter."
                ),
            )


@check(
    "multiple_permissive_policies",
    title="Several permissive policies for the same role and command",
    category=Category.SECURITY,
    severity=Severity.LOW,
)
def multiple_permissive_policies(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """More than one PERMISSIVE policy applies to the same role and command on a table.

    A hygiene note, not a speed problem: PostgreSQL already ORs them into one qual, and a
    hand-merged policy plans the same. What matters is review: the role gets the union, so
    one broad policy silently widens all the others. Check each is meant to grant access on
    its own, or make the narrowing ones RESTRICTIVE. A policy TO public applies to every role.
    """
    for table in _rls_tables(snap, platform=True):
        if not table.rls_enabled:
            continue
        permissive = [p for p in snap.policies_by_table.get(table.ident, []) if p.permissive]
        if len(permissive) < 2:
            continue
        for role, command, policies in _overlaps(permissive):
            names = sorted(p.name for p in policies)
            yield Issue(
                object=f"{table.qualified} (role {display_role(role)}, {command})",
                detail=(
                    f"{len(policies)} permissive policies ({', '.join(map(quote_ident, names))}) "
                    f"apply to {display_role(role)} for {command} on {table.qualified}; a row "
                    "passes when any one of them allows it. Check each is meant to grant "
                    "access on its own (PostgreSQL ORs them into one qual, so merging them "
                    "would not make queries faster)."
                ),
                evidence={"role": display_role(role), "command": command, "policies": names},
            )


@check(
    "rls_policy_always_true",
    title="Policy that lets every row through",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES)},
)
def rls_policy_always_true(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A permissive policy's USING or WITH CHECK is constant true (`true`, `1 = 1`, `x OR true`).

    Permissive policies are ORed, so RLS then protects nothing for that command: high for
    UPDATE/DELETE/ALL, medium for INSERT, low for SELECT (public reads are often intended).
    Critical when other tables' policies read this table (a membership table such as
    user <-> team): whoever writes a row here grants themselves what those policies allow.
    An UPDATE policy with only `WITH CHECK (true)` and no USING of its own or of another
    UPDATE/ALL policy lets no row be updated and is not reported. Check the caller instead,
    e.g. `WITH CHECK (user_id = (SELECT auth.uid()))`.
    """
    access = AccessModel(snap, opts["api_roles"])
    trusted_by = policy_dependents(snap)
    for table in _rls_tables(snap, platform=True):
        if not table.rls_enabled:
            continue
        policies = snap.policies_by_table.get(table.ident, [])
        for policy in policies:
            issue = _always_true_issue(
                access, snap, table, policy, policies, trusted_by.get(table.ident, [])
            )
            if issue is not None:
                yield issue


# -- who can reach the rows --


def _rls_tables(snap: Snapshot, *, platform: bool = False) -> Iterator[Table]:
    """Tables RLS applies to. Platform schemas (Supabase's storage, auth...) are left out
    unless `platform`: their policies, unlike their RLS switches, are the user's to write."""
    skip = frozenset() if platform else platform_schemas(snap)
    for table in snap.tables:
        if table.kind in ("r", "p") and table.extension is None and table.schema not in skip:
            yield table


def _row_exposure(
    access: AccessModel, snap: Snapshot, table: Table, privileges: Sequence[str] = ()
) -> Exposure:
    """Roles RLS could restrict that reach the table's rows (column grants included)."""
    columns = [(c.name, c.acl) for c in snap.columns_by_table.get(table.ident, [])]
    return access.table_exposure(
        table.acl, table.owner, table.schema, privileges or ROW_PRIVILEGES, columns, rls=True
    )


def _open_table_severity(exposure: Exposure, login_roles_count: bool) -> Severity | None:
    """Critical for API roles or PUBLIC writes; high for PUBLIC reads and other roles."""
    if exposure.api:
        return Severity.CRITICAL
    if exposure.public:
        public_writes = WRITE_PRIVILEGES & set(exposure.privileges_of([PUBLIC]))
        return Severity.CRITICAL if public_writes else Severity.HIGH
    if exposure.roles and login_roles_count:
        return Severity.HIGH
    return None


def _who(exposure: Exposure) -> str:
    names = exposure.who()
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _verbs(exposure: Exposure) -> str:
    return "/".join(p for p in COMMANDS if p in exposure.privileges) or "reach"


def _exposure_evidence(exposure: Exposure) -> dict[str, object]:
    return {
        "exposed_to": exposure.who(),
        "privileges": exposure.privileges,
        "grants": exposure.grants(),
    }


def _covered_commands(policies: list[Policy]) -> set[str]:
    """Commands some permissive policy lets through (restrictive ones only narrow)."""
    covered: set[str] = set()
    for policy in policies:
        if not policy.permissive:
            continue
        covered |= set(COMMANDS) if policy.command == "ALL" else {policy.command}
    return covered


def _enable_rls(table: Table, *, needs_review: bool) -> Fix:
    name = sql.Identifier(table.schema, table.name)
    return Fix(
        sql=sqlgen.render(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name)),
        rollback_sql=sqlgen.render(
            sql.SQL("ALTER TABLE {} DISABLE ROW LEVEL SECURITY").format(name)
        ),
        needs_review=needs_review,
    )


def _verify_rls(table: Table) -> str:
    return sqlgen.render(
        sql.SQL("SELECT relrowsecurity FROM pg_class WHERE oid = {}::regclass").format(
            sql.Literal(sqlgen.render(sql.Identifier(table.schema, table.name)))
        )
    )


def _policy_object(policy: Policy) -> str:
    return f"{policy.table_qualified} (policy {quote_ident(policy.name)})"


# -- policies that let everything through --


def _always_true_issue(
    access: AccessModel,
    snap: Snapshot,
    table: Table,
    policy: Policy,
    siblings: list[Policy],
    trusted_by: list[str],
) -> Issue | None:
    if not policy.permissive:
        return None
    using_true = is_constant_true(policy.using)
    check_true = is_constant_true(policy.with_check)
    if not (using_true or check_true):
        return None
    if policy.command == "UPDATE" and policy.using is None and not _update_rows(policy, siblings):
        return None  # no USING anywhere: PostgreSQL lets no row be updated at all
    severity = _always_true_severity(policy, using_true, check_true)
    if severity is None:
        return None
    privileges = COMMANDS if policy.command == "ALL" else (policy.command,)
    exposure = _policy_audience(_row_exposure(access, snap, table, privileges), policy, access)
    if not exposure:
        return None
    clause = "USING" if using_true else "WITH CHECK"
    detail = (
        f"Permissive policy {quote_ident(policy.name)} on {table.qualified} ({policy.command}) "
        f"has {clause} always true, so {_who(exposure)} pass it for every row."
    )
    writes = policy.command != "SELECT" and (check_true or policy.command == "DELETE")
    escalates = bool(trusted_by) and (writes or (using_true and policy.command != "SELECT"))
    if escalates:
        severity = Severity.CRITICAL
        detail += (
            f" Policies on other tables trust this table's rows ({', '.join(trusted_by[:5])}"
            f"{' and more' if len(trusted_by) > 5 else ''}): writing a row here (adding "
            "oneself to a team, say) grants whatever those policies allow."
        )
    return Issue(
        object=_policy_object(policy),
        severity=severity,
        detail=detail,
        evidence=_exposure_evidence(exposure)
        | {
            "command": policy.command,
            "using": policy.using,
            "with_check": policy.with_check,
            "trusted_by": trusted_by,
        },
    )


def _update_rows(policy: Policy, siblings: list[Policy]) -> bool:
    """Whether some permissive UPDATE/ALL policy for the same roles has a USING to pick rows."""
    for other in siblings:
        if other is policy or not other.permissive or other.using is None:
            continue
        if other.command not in ("UPDATE", "ALL"):
            continue
        if PUBLIC in other.roles or PUBLIC in policy.roles or set(other.roles) & set(policy.roles):
            return True
    return False


def policy_dependents(snap: Snapshot) -> dict[tuple[str, str], list[str]]:
    """For each table, the policies on *other* tables whose expressions read it, directly
    (a subquery) or through a function they call (whose body names the table)."""
    by_name: dict[str, list[tuple[str, str]]] = {}
    for t in snap.tables:
        if t.kind in ("r", "p"):
            by_name.setdefault(t.name, []).append(t.ident)
    functions = {(fn.schema, fn.name): fn for fn in snap.functions if fn.body}
    bare = {key[1]: key for key in functions}
    found: dict[tuple[str, str], set[str]] = {}
    for policy in snap.policies:
        read: set[tuple[str, str]] = set()
        for expression in (policy.using, policy.with_check):
            node = parse_expression(expression)
            if node is None:
                continue
            for rv in nodes_of(node, ast.RangeVar):
                read |= {
                    i for i in by_name.get(rv.relname or "", []) if rv.schemaname in (None, i[0])
                }
            for call in nodes_of(node, ast.FuncCall):
                name = _call_name(call)
                key = name if len(name) == 2 else bare.get(name[-1]) if name else None
                fn = functions.get(key) if key else None
                if fn is not None and fn.body:
                    read |= _tables_named(fn.body, by_name)
        for ident in read - {(policy.schema, policy.table)}:
            found.setdefault(ident, set()).add(_policy_object(policy))
    return {k: sorted(v) for k, v in found.items()}


_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_READS = re.compile(rf"\b(?:from|join)\s+({_NAME})(?:\s*\.\s*({_NAME}))?", re.IGNORECASE)


def _tables_named(body: str, by_name: dict[str, list[tuple[str, str]]]) -> set[tuple[str, str]]:
    """Tables a function body reads after FROM or JOIN (qualified, or by name in any schema)."""
    found: set[tuple[str, str]] = set()
    for first, second in _READS.findall(body):
        schema, name = (_unquote(first), _unquote(second)) if second else (None, _unquote(first))
        found |= {i for i in by_name.get(name, []) if schema is None or i[0] == schema}
    return found


def _unquote(name: str) -> str:
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


def _always_true_severity(policy: Policy, using_true: bool, check_true: bool) -> Severity | None:
    """How much an always-true clause opens, by command (see the check's docstring)."""
    command = policy.command
    if command == "SELECT":
        return Severity.LOW if using_true else None
    if command == "INSERT":
        return Severity.MEDIUM if check_true else None
    if command == "DELETE":
        return Severity.HIGH if using_true else None
    # UPDATE and ALL: WITH CHECK defaults to USING when absent.
    if using_true:
        return Severity.HIGH
    return Severity.MEDIUM if check_true else None


def _policy_audience(exposure: Exposure, policy: Policy, access: AccessModel) -> Exposure:
    """The part of an exposure the policy applies to (TO public means everyone)."""
    if PUBLIC in policy.roles:
        return exposure
    paths = tuple(
        p
        for p in exposure.paths
        if p.role != PUBLIC and any(access.graph.can_act_as(p.role, r) for r in policy.roles)
    )
    return Exposure(paths, exposure.api_roles)


_UNKNOWN = object()


def is_constant_true(expression: str | None) -> bool:
    """Whether a policy expression is constant true."""
    node = parse_expression(expression)
    return node is not None and _constant(node) is True


def parse_expression(expression: str | None) -> ast.Node | None:
    if not expression:
        return None
    try:
        stmt = parse_sql("SELECT " + expression)
    except parser.ParseError:
        return None
    select = stmt[0].stmt if len(stmt) == 1 else None
    if not isinstance(select, ast.SelectStmt) or select.fromClause:
        return None
    targets = select.targetList or ()
    return targets[0].val if len(targets) == 1 else None


def _constant(node: object) -> object:
    """Fold a small constant expression; _UNKNOWN for anything that depends on the row."""
    if isinstance(node, ast.A_Const):
        return _const_value(node)
    if isinstance(node, ast.TypeCast) and node.typeName is not None:
        return _cast(_constant(node.arg), node.typeName)
    if isinstance(node, ast.BoolExpr):
        return _bool_expr(node)
    if isinstance(node, ast.A_Expr) and node.kind == 0 and len(node.name or ()) == 1:
        operator_name = (node.name or ())[0].sval
        return _compare(operator_name, _constant(node.lexpr), _constant(node.rexpr))
    return _UNKNOWN


def _const_value(node: ast.A_Const) -> object:
    if node.isnull:
        return None
    value = node.val
    if isinstance(value, ast.Boolean):
        return bool(value.boolval)
    if isinstance(value, ast.Integer):
        return int(value.ival or 0)
    if isinstance(value, ast.Float):
        return float(value.fval or 0)
    if isinstance(value, ast.String):
        return value.sval
    return _UNKNOWN


def _cast(value: object, type_name: ast.TypeName) -> object:
    target = (type_name.names or ())[-1].sval if type_name.names else ""
    if target in ("bool", "boolean"):
        if isinstance(value, bool | int):
            return bool(value)
        if isinstance(value, str):
            return _BOOL_TEXT.get(value.strip().lower(), _UNKNOWN)
        return _UNKNOWN
    if target in ("int2", "int4", "int8", "smallint", "integer", "bigint"):
        return value if isinstance(value, int) and not isinstance(value, bool) else _UNKNOWN
    if target == "text":
        return value if isinstance(value, str) else _UNKNOWN
    return _UNKNOWN


_BOOL_TEXT = {
    "t": True, "true": True, "y": True, "yes": True, "on": True, "1": True,
    "f": False, "false": False, "n": False, "no": False, "off": False, "0": False,
}  # fmt: skip


def _bool_expr(node: ast.BoolExpr) -> object:
    values = [_constant(arg) for arg in node.args or ()]
    if node.boolop == BoolExprType.NOT_EXPR:
        return (not values[0]) if isinstance(values[0], bool) else _UNKNOWN
    if node.boolop == BoolExprType.OR_EXPR:
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else _UNKNOWN
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else _UNKNOWN


def _compare(op: str, left: object, right: object) -> object:
    if not (_comparable(left, right) and op in _OPERATORS):
        return _UNKNOWN
    return _OPERATORS[op](left, right)


def _comparable(left: object, right: object) -> bool:
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    if isinstance(left, numbers) and isinstance(right, numbers):
        return True
    return isinstance(left, str) and isinstance(right, str)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


# -- overlapping permissive policies --


def _overlaps(policies: list[Policy]) -> Iterator[tuple[str, str, list[Policy]]]:
    """(role, command, policies) where two or more permissive policies apply together."""
    named = sorted({r for p in policies for r in p.roles if r != PUBLIC})
    for command in COMMANDS:
        for_command = [p for p in policies if p.command in (command, "ALL")]
        for_public = [p for p in for_command if PUBLIC in p.roles]
        if len(for_public) >= 2:
            yield PUBLIC, command, for_public
        for role in named:
            applicable = [p for p in for_command if role in p.roles or PUBLIC in p.roles]
            # Skip when the role adds nothing beyond what PUBLIC already reported.
            if len(applicable) >= 2 and len(applicable) > len(for_public):
                yield role, command, applicable


# -- per-row function calls in policies --


@dataclass(frozen=True)
class _Rewrite:
    using: str | None
    with_check: str | None
    calls: list[str]


def _target_functions(snap: Snapshot, opts: Options) -> set[tuple[str, ...]]:
    """Names (qualified and, for visible schemas, bare) of calls worth hoisting."""
    targets = {tuple(name.split(".")) for name in opts["functions"]}
    targets |= {("pg_catalog", *t) for t in targets if len(t) == 1}
    if opts["include_stable_functions"]:
        visible = {"public", snap.server.current_user}
        for fn in snap.functions:
            if fn.volatility == "s" and fn.kind == "f" and fn.extension is None:
                targets.add((fn.schema, fn.name))
                if fn.schema in visible:
                    targets.add((fn.name,))
    return targets


def _rewrite_policy(policy: Policy, targets: set[tuple[str, ...]]) -> _Rewrite | None:
    using = _wrap_calls(policy.using, targets)
    with_check = _wrap_calls(policy.with_check, targets)
    if using is None and with_check is None:
        return None
    calls = (using[1] if using else []) + (with_check[1] if with_check else [])
    return _Rewrite(using[0] if using else None, with_check[0] if with_check else None, calls)


def _wrap_calls(
    expression: str | None, targets: set[tuple[str, ...]]
) -> tuple[str, list[str]] | None:
    """The expression with each per-row target call wrapped in (SELECT ...), and the calls.

    Spans come from the parser's locations and the scanner's tokens (which understand
    strings, quoted names and comments), so the rest of the text is kept byte for byte.
    """
    node = parse_expression(expression)
    if node is None or expression is None:
        return None
    calls = list(_hoistable_calls(node, targets))
    if not calls:
        return None
    source = "SELECT " + expression
    tokens = parser.scan(source)
    spans = sorted({_call_span(tokens, call.location or 0) for call in calls})
    text = source
    for start, end in reversed(spans):
        text = f"{text[:start]}(SELECT {text[start:end]}){text[end:]}"
    rewritten = text[len("SELECT ") :]
    if parse_expression(rewritten) is None:
        return None
    return rewritten, [source[start:end] for start, end in spans]


def _hoistable_calls(node: object, targets: set[tuple[str, ...]]) -> Iterator[ast.FuncCall]:
    """Target calls outside any subquery whose arguments do not depend on the row."""
    if isinstance(node, ast.SubLink):
        return
    hoistable = isinstance(node, ast.FuncCall) and _call_name(node) in targets
    if hoistable and not _references_row(node):
        yield typing.cast(ast.FuncCall, node)
        return
    for child in _children(node):
        yield from _hoistable_calls(child, targets)


def _call_name(node: ast.FuncCall) -> tuple[str, ...]:
    return tuple(part.sval for part in node.funcname or ())


def _references_row(node: object) -> bool:
    if isinstance(node, (ast.ColumnRef, ast.SubLink, ast.ParamRef)):
        return True
    return any(_references_row(child) for child in _children(node))


def _children(node: object) -> Iterator[object]:
    if isinstance(node, (list, tuple)):
        yield from node
        return
    if isinstance(node, ast.Node):
        for name in getattr(type(node), "__slots__", ()):
            value = getattr(node, name, None)
            if isinstance(value, (ast.Node, list, tuple)):
                yield value


def _call_span(tokens: Sequence[parser.Token], location: int) -> tuple[int, int]:
    """[start, end) of the call starting at `location`: its name through the matching ')'."""
    depth = 0
    for token in tokens:
        if token.start < location:
            continue
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
            if depth == 0:
                return location, token.end + 1
    raise ValueError("unbalanced call in policy expression")


def _alter_policy(policy: Policy, using: str | None, with_check: str | None) -> sql.Composed:
    parts: list[sql.Composable] = [
        sql.SQL("ALTER POLICY {} ON {}").format(
            sql.Identifier(policy.name), sql.Identifier(policy.schema, policy.table)
        )
    ]
    # The expressions are pg_get_expr output: already SQL, embedded as such.
    if using is not None:
        parts.append(sql.SQL("USING ({})").format(sql.SQL(using)))
    if with_check is not None:
        parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(with_check)))
    return sql.SQL(" ").join(parts)
