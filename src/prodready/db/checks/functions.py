"""Functions whose name resolution another role can hijack through search_path."""

from __future__ import annotations

from collections.abc import Iterator

from psycopg import sql

from prodready import sqlgen
from prodready.db.acl import (
    API_ROLES,
    WRITE_PRIVILEGES,
    AccessModel,
    Exposure,
    Path,
    platform_schemas,
)
from prodready.db.snapshot import Function, Snapshot, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check

# Languages whose bodies never resolve SQL names through search_path.
NATIVE_LANGUAGES = ("c", "internal")


@check(
    "security_definer_function_search_path",
    title="SECURITY DEFINER function without a fixed search_path",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES), "search_path": ""},
)
def security_definer_function_search_path(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A SECURITY DEFINER function runs with its owner's rights but resolves names with the
    caller's search_path, so a caller who can create a function, operator or table in a
    schema on that path (or a temporary table) runs code as the owner. High when roles other
    than the owner can execute it, medium when only PUBLIC's default EXECUTE exposes it.
    Fix: `ALTER FUNCTION ... SET search_path = ''` and schema-qualify every name in the body.
    A trigger function is judged by who can fire it (write its tables), not by EXECUTE.
    """
    access = AccessModel(snap, opts["api_roles"])
    for fn in _routines(snap, skip_native=False):
        if not fn.security_definer or fn.kind == "a":
            continue
        path = _configured_search_path(fn)
        writable = _writable_schemas(access, path) if path is not None else []
        if path is not None and not writable:
            continue
        exposure = callers(access, snap, fn)
        severity = Severity.HIGH if exposure.roles else Severity.MEDIUM
        if not exposure:
            severity = Severity.LOW
        yield Issue(
            object=fn.signature,
            severity=severity,
            detail=_definer_detail(fn, exposure, path, writable),
            evidence=_evidence(fn, exposure) | {"search_path": path, "writable_schemas": writable},
            fix=_set_search_path(fn, opts["search_path"], path),
            verify=_verify(fn),
        )


@check(
    "function_search_path_mutable",
    title="Function without a fixed search_path",
    category=Category.SECURITY,
    severity=Severity.LOW,
    options={"api_roles": list(API_ROLES), "search_path": ""},
)
def function_search_path_mutable(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A function without `SET search_path` resolves names with whatever path its caller has.

    A role that can create objects in a schema on a privileged caller's path (or a caller
    with an unusual path) can change what the function does. Reported for functions other
    roles than the owner can execute; C and internal functions are skipped. Fix: `ALTER
    FUNCTION ... SET search_path = ''` and schema-qualify the names the body uses.
    """
    access = AccessModel(snap, opts["api_roles"])
    for fn in _routines(snap, skip_native=True):
        if fn.security_definer or fn.kind == "a" or _configured_search_path(fn) is not None:
            continue
        exposure = callers(access, snap, fn)
        if not exposure.roles:
            continue  # only the owner, superusers and PUBLIC-in-name can call it
        yield Issue(
            object=fn.signature,
            detail=(
                f"{fn.signature} has no search_path setting, and "
                f"{', '.join(exposure.who())} {_runs_it(fn)}. Set search_path = '' and "
                "schema-qualify the names its body uses."
            ),
            evidence=_evidence(fn, exposure),
            fix=_set_search_path(fn, opts["search_path"], None),
            verify=_verify(fn),
        )


def callers(access: AccessModel, snap: Snapshot, fn: Function) -> Exposure:
    """Who can make the function run: its EXECUTE grants, or for a trigger function (which
    cannot be called directly, whatever EXECUTE says) who can write the tables it fires on."""
    if not fn.is_trigger:
        return access.function_exposure(fn.acl, fn.owner, fn.schema)
    paths: set[Path] = set()
    for trigger in snap.triggers:
        if (trigger.function_schema, trigger.function_name) != (fn.schema, fn.name):
            continue
        table = snap.table(trigger.schema, trigger.table)
        if table is not None:
            columns = [(c.name, c.acl) for c in snap.columns_by_table.get(table.ident, [])]
            paths.update(
                access.table_exposure(
                    table.acl, table.owner, table.schema, WRITE_PRIVILEGES, columns
                ).paths
            )
    return Exposure(tuple(sorted(paths)), access.api_roles)


def _runs_it(fn: Function) -> str:
    return (
        "can fire it by writing to the tables it triggers on"
        if fn.is_trigger
        else ("can execute it")
    )


def _routines(snap: Snapshot, *, skip_native: bool) -> Iterator[Function]:
    skip = platform_schemas(snap)
    for fn in snap.functions:
        if fn.extension is not None or fn.schema in skip:
            continue
        if skip_native and fn.language in NATIVE_LANGUAGES:
            continue
        yield fn


def _configured_search_path(fn: Function) -> list[str] | None:
    """The schemas of the function's own `SET search_path`, or None when it has none."""
    for entry in fn.config or []:
        name, _, value = entry.partition("=")
        if name.strip().lower() == "search_path":
            return split_search_path(value)
    return None


def split_search_path(value: str) -> list[str]:
    """Split a search_path value (`"$user", public`, `""`) into schema names."""
    names: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == '"':
            if quoted and value[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            else:
                quoted = not quoted
        elif ch == "," and not quoted:
            names.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    names.append("".join(current).strip())
    return [n for n in names if n]


def _writable_schemas(access: AccessModel, path: list[str]) -> list[str]:
    """Schemas on the path where PUBLIC or a non-owner role may create objects."""
    writable = []
    for name in path:
        acl = access.schema_acl.get(name)
        if acl is None:
            continue
        exposure = access.exposure(
            acl=acl, owner=access.schema_owner[name], schema=None, privileges=["CREATE"]
        )
        if exposure:
            writable.append(name)
    return writable


def _definer_detail(
    fn: Function, exposure: Exposure, path: list[str] | None, writable: list[str]
) -> str:
    who = ", ".join(exposure.who()) or "only its owner and superusers"
    if path is None:
        problem = f"{fn.signature} runs as {quote_ident(fn.owner)} with the caller's search_path"
    else:
        problem = (
            f"{fn.signature} runs as {quote_ident(fn.owner)} with a search_path that includes "
            f"{', '.join(map(quote_ident, writable))}, where other roles can create objects"
        )
    return (
        f"{problem}; {who} {_runs_it(fn)}. Set search_path = '' and schema-qualify every "
        "name in the body, or objects planted on the path run with the owner's privileges."
    )


def _evidence(fn: Function, exposure: Exposure) -> dict[str, object]:
    return {
        "owner": fn.owner,
        "language": fn.language,
        "security_definer": fn.security_definer,
        "executable_by": exposure.who(),
        "grants": exposure.grants(),
        "public_execute": exposure.public,
    }


def _routine_ref(fn: Function) -> sql.Composed:
    """`FUNCTION schema.name(args)`; the identity arguments are already SQL (from
    pg_get_function_identity_arguments) and are embedded as such."""
    keyword = sql.SQL("PROCEDURE" if fn.kind == "p" else "FUNCTION")
    return sql.SQL("{} {}({})").format(
        keyword, sql.Identifier(fn.schema, fn.name), sql.SQL(fn.identity_args)
    )


def search_path_value(schemas: list[str]) -> sql.Composable:
    """A search_path value: '' for none, else quoted schema names."""
    if not schemas:
        return sql.Literal("")
    return sql.SQL(", ").join(sql.Identifier(name) for name in schemas)


def _set_search_path(fn: Function, wanted: str, previous: list[str] | None) -> Fix:
    ref = _routine_ref(fn)
    target = search_path_value(split_search_path(wanted))
    forward = sql.SQL("ALTER {} SET search_path = {}").format(ref, target)
    if previous is None:
        back = sql.SQL("ALTER {} RESET search_path").format(ref)
    else:
        back = sql.SQL("ALTER {} SET search_path = {}").format(ref, search_path_value(previous))
    # A body with unqualified names stops working under an empty path: a person must look.
    return Fix(sql=sqlgen.render(forward), rollback_sql=sqlgen.render(back), needs_review=True)


def _verify(fn: Function) -> str:
    query = sql.SQL(
        "SELECT p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = {} AND p.proname = {} "
        "AND pg_get_function_identity_arguments(p.oid) = {}"
    ).format(sql.Literal(fn.schema), sql.Literal(fn.name), sql.Literal(fn.identity_args))
    return sqlgen.render(query)
