"""Privileges: views that bypass RLS, writable schemas, superuser apps, readable secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from psycopg import sql

from prodready import sqlgen
from prodready.db.acl import (
    API_ROLES,
    PUBLIC,
    ROW_PRIVILEGES,
    AccessModel,
    AclItem,
    Exposure,
    Path,
    display_role,
    platform_schemas,
    uses_rls,
)
from prodready.db.checks.rls import is_constant_true
from prodready.db.snapshot import Column, Policy, Snapshot, View, qualify, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check

SECURITY_INVOKER_MIN_VERSION = 150000

# Roles managed services keep as superusers; users cannot drop them.
PLATFORM_SUPERUSERS = [
    "postgres", "rdsadmin", "supabase_admin", "cloudsqladmin", "azure_superuser", "azuresu",
]  # fmt: skip

# Name components (split on "_", digits and camelCase) that mark a column as secret.
SENSITIVE_PATTERNS = [
    "password", "passwd", "pwd", "passphrase", "password_hash", "password_digest",
    "passwordhash", "passworddigest", "hashed_password", "secret", "secrets", "token",
    "api_key", "apikey", "access_key", "accesskey", "private_key", "privatekey",
    "secret_key", "secretkey", "signing_key", "encryption_key", "refresh_token",
    "refreshtoken", "access_token", "accesstoken", "session_token", "auth_token",
    "authtoken", "ssn", "social_security", "credit_card", "creditcard", "card_number",
    "cardnumber", "account_number", "cvv", "cvc", "iban", "otp", "totp", "salt",
    "recovery_code", "recovery_codes", "mfa_secret",
]  # fmt: skip

# A last component that says the column describes a secret rather than holds one.
NON_SECRET_SUFFIXES = [
    "at", "on", "date", "time", "timestamp", "count", "counter", "type", "kind", "enabled",
    "required", "expires", "expiry", "expiration", "length", "len", "id", "ids", "uuid",
    "version", "status", "hint", "prefix", "last4", "changed", "updated", "created", "sent",
    "used", "attempts", "policy", "strength", "algorithm", "method", "provider", "name",
    "label", "url", "scope", "scopes", "limit", "ttl",
]  # fmt: skip

_FLAG_PREFIXES = ("is", "has", "needs", "requires", "should", "can")
_NON_SECRET_TYPES = ("boolean", "date", "time", "timestamp", "interval")


# -- views --


@check(
    "security_definer_view",
    title="View runs with its owner's rights and bypasses row-level security",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES)},
)
def security_definer_view(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A view checks privileges and RLS as its owner, so its readers bypass the policies of
    tables the owner owns (of every table, when the owner is superuser or BYPASSRLS).

    Reported when other roles can read it and the database uses RLS. On PostgreSQL 15+:
    `ALTER VIEW ... SET (security_invoker = true)` (readers then need table privileges);
    before 15, revoke the view from those roles or filter it by the caller.
    """
    access = AccessModel(snap, opts["api_roles"])
    skip = platform_schemas(snap)
    modern = snap.server.version_num >= SECURITY_INVOKER_MIN_VERSION
    for view in snap.views:
        if view.kind != "v" or view.extension is not None or view.schema in skip:
            continue
        bypassed = [] if _security_invoker(view) else _bypassed_tables(snap, access, view.owner)
        if not bypassed:
            continue
        columns = [(c.name, c.acl) for c in snap.columns_by_table.get((view.schema, view.name), [])]
        exposure = access.table_exposure(
            view.acl, view.owner, view.schema, ROW_PRIVILEGES, columns, rls=True
        )
        if not exposure:
            continue
        yield _definer_view_issue(view, exposure, modern, bypassed)


def _security_invoker(view: View) -> bool:
    for option in view.options:
        name, _, value = option.partition("=")
        if name.strip().lower() == "security_invoker":
            return value.strip().lower() in ("true", "on", "1", "yes", "t", "y")
    return False


def _bypassed_tables(snap: Snapshot, access: AccessModel, owner: str) -> list[str]:
    """RLS tables whose policies a view owned by `owner` would not apply (its owner's
    own tables unless FORCEd, or every one when the owner bypasses RLS)."""
    every = access.graph.bypasses_rls(owner)
    return [
        t.qualified
        for t in snap.tables
        if t.rls_enabled
        and (every or (not t.rls_forced and access.graph.can_act_as(owner, t.owner)))
    ]


def _definer_view_issue(view: View, exposure: Exposure, modern: bool, bypassed: list[str]) -> Issue:
    who = ", ".join(exposure.who())
    evidence = {
        "owner": view.owner,
        "exposed_to": exposure.who(),
        "grants": exposure.grants(),
        "security_invoker_supported": modern,
        "rls_tables_bypassed": len(bypassed),
        "rls_tables_sample": bypassed[:10],
    }
    if not modern:
        return Issue(
            object=view.qualified,
            severity=Severity.MEDIUM,
            detail=(
                f"{view.qualified} runs as {quote_ident(view.owner)}, bypassing row-level "
                f"security for {who}. This server predates security_invoker (PostgreSQL 15): "
                "revoke the view from these roles or filter its rows by the caller."
            ),
            evidence=evidence,
        )
    name = sql.Identifier(view.schema, view.name)
    return Issue(
        object=view.qualified,
        detail=(
            f"{view.qualified} runs as {quote_ident(view.owner)}, so {who} read through it "
            "without the row-level security of the underlying tables; make it security_invoker "
            "(callers then need their own privileges on those tables)."
        ),
        evidence=evidence,
        fix=Fix(
            sql=sqlgen.render(sql.SQL("ALTER VIEW {} SET (security_invoker = true)").format(name)),
            rollback_sql=sqlgen.render(
                sql.SQL("ALTER VIEW {} RESET (security_invoker)").format(name)
            ),
            needs_review=True,
        ),
        verify=f"SELECT reloptions FROM pg_class WHERE oid = {_regclass(view.schema, view.name)}",
    )


# -- extensions and schemas --


@check(
    "extension_in_public",
    title="Extension installed in the public schema",
    category=Category.SECURITY,
    severity=Severity.LOW,
    options={"api_roles": list(API_ROLES), "target_schema": "extensions"},
)
def extension_in_public(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """An extension lives in `public`, which an API publishes or other roles can write to.

    PostgREST/Supabase expose `public` to `anon`, turning the extension's functions into
    endpoints; roles that can CREATE in `public` can shadow them. Move relocatable ones with
    `ALTER EXTENSION ... SET SCHEMA extensions` (add it to search_path); re-create others.
    """
    if "public" not in {s.name for s in snap.schemas}:
        return
    access = AccessModel(snap, opts["api_roles"])
    api = [r for r in access.candidates if r in access.api_roles]
    api = [r for r in api if access.schema_usable(r, "public")]
    creators = _creators(access, "public")
    if not api and not creators:
        return
    target = opts["target_schema"]
    for ext in snap.extensions:
        if ext.schema != "public" or ext.name == "plpgsql":
            continue
        reason = (
            f"{', '.join(map(display_role, api))} can use schema public"
            if api
            else f"{', '.join(creators.who())} can create objects in public"
        )
        detail = f"Extension {quote_ident(ext.name)} is installed in public, and {reason}. "
        detail += (
            f"Move it to schema {quote_ident(target)} and add that schema to search_path."
            if ext.relocatable
            else "It is not relocatable: drop and re-create it in another schema."
        )
        yield Issue(
            object=f"public ({quote_ident(ext.name)})",
            detail=detail,
            evidence={
                "extension": ext.name,
                "version": ext.version,
                "relocatable": ext.relocatable,
                "api_roles": api,
                "can_create_in_public": creators.who(),
            },
            fix=_move_extension(ext.name, target) if ext.relocatable else None,
            verify=sqlgen.render(
                sql.SQL(
                    "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = {}"
                ).format(sql.Literal(ext.name))
            ),
        )


def _creators(access: AccessModel, schema: str) -> Exposure:
    acl = access.schema_acl.get(schema)
    if acl is None:
        return Exposure()
    return access.exposure(
        acl=acl, owner=access.schema_owner[schema], schema=None, privileges=["CREATE"]
    )


def _move_extension(name: str, target: str) -> Fix:
    ext, schema = sql.Identifier(name), sql.Identifier(target)
    forward = sql.SQL(
        "CREATE SCHEMA IF NOT EXISTS {schema};\nALTER EXTENSION {ext} SET SCHEMA {schema}"
    )
    back = sql.SQL("ALTER EXTENSION {ext} SET SCHEMA public")
    return Fix(
        sql=sqlgen.render(forward.format(ext=ext, schema=schema)),
        rollback_sql=sqlgen.render(back.format(ext=ext)),
        needs_review=True,
    )


@check(
    "public_schema_create",
    title="Any role can create objects in a schema",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={"api_roles": list(API_ROLES)},
)
def public_schema_create(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """PUBLIC, an API role or every login role can CREATE in a schema (`public` before PG 15).

    Anyone can then plant a function or table that shadows a trusted one on another role's
    search_path (CVE-2018-1058). Fix: `REVOKE CREATE ON SCHEMA public FROM PUBLIC`, after
    granting CREATE to the roles that own objects there (the application's migrations).
    """
    access = AccessModel(snap, opts["api_roles"])
    skip = platform_schemas(snap)
    for schema in snap.schemas:
        if schema.extension is not None or schema.name in skip:
            continue
        grants = _open_create_grants(access, schema.name, schema.owner)
        if not grants:
            continue
        keep = _owners_relying_on(snap, access, schema.name, schema.owner, grants)
        who = [display_role(g.grantee) for g in grants]
        detail = (
            f"{', '.join(who)} can create objects in schema {quote_ident(schema.name)}, so any of "
            "them can shadow functions and tables other roles resolve through search_path."
        )
        if keep:
            detail += (
                f" {', '.join(map(quote_ident, keep))} own objects there and keep CREATE "
                "through their own grant."
            )
        yield Issue(
            object=quote_ident(schema.name),
            detail=detail,
            evidence={
                "grantees": who,
                "owner": schema.owner,
                "acl": schema.acl,
                "granted_to_owners": keep,
            },
            fix=_schema_create_fix(schema.name, grants, keep),
            verify=sqlgen.render(
                sql.SQL("SELECT has_schema_privilege('public', {}, 'CREATE')").format(
                    sql.Literal(schema.name)
                )
            ),
        )


def _owners_relying_on(
    snap: Snapshot, access: AccessModel, schema: str, owner: str, revoked: list[AclItem]
) -> list[str]:
    """Owners of objects in `schema` whose only CREATE comes from the grants being revoked."""
    owners = {t.owner for t in snap.tables if t.schema == schema and t.extension is None}
    owners |= {v.owner for v in snap.views if v.schema == schema and v.extension is None}
    owners |= {f.owner for f in snap.functions if f.schema == schema and f.extension is None}
    kept = [
        item
        for item in access.schema_acl.get(schema, [])
        if "CREATE" in item.privileges and item not in revoked and not item.is_public
    ]
    relying = []
    for name in sorted(owners):
        graph = access.graph
        if graph.is_superuser(name) or graph.can_act_as(name, owner):
            continue
        if not any(graph.can_act_as(name, item.grantee) for item in kept):
            relying.append(name)
    return relying


def _schema_create_fix(schema: str, revoked: list[AclItem], keep: list[str]) -> Fix:
    name = sql.Identifier(schema)
    grant_owners = [
        sql.SQL("GRANT CREATE ON SCHEMA {} TO {}").format(name, sql.Identifier(o)) for o in keep
    ]
    revoke = [
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(name, _grantee(g.grantee))
        for g in revoked
    ]
    regrant = [
        sql.SQL("GRANT CREATE ON SCHEMA {} TO {}{}").format(
            name, _grantee(g.grantee), _grant_option("CREATE" in g.grantable)
        )
        for g in revoked
    ]
    ungrant_owners = [
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(name, sql.Identifier(o)) for o in keep
    ]
    return Fix(sql=_script(grant_owners + revoke), rollback_sql=_script(regrant + ungrant_owners))


def _open_create_grants(access: AccessModel, schema: str, owner: str) -> list[AclItem]:
    """CREATE grants to PUBLIC, to a role an API role reaches, or to a role every
    non-owner login role reaches."""
    logins = [r for r in access.outsiders(owner) if access.graph.roles[r].login]
    found = []
    for item in access.schema_acl.get(schema, []):
        if "CREATE" not in item.privileges or item.grantee == owner:
            continue
        reached_by = [
            r for r in access.outsiders(owner) if access.graph.can_act_as(r, item.grantee)
        ]
        api = any(r in access.api_roles for r in reached_by)
        everyone = len(logins) >= 2 and set(logins) <= set(reached_by)
        if item.is_public or api or everyone:
            found.append(item)
    return found


# -- the application's role --


@check(
    "app_role_superuser",
    title="Application role is a superuser or bypasses RLS",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    options={"app_role": "", "ignore_superusers": PLATFORM_SUPERUSERS},
)
def app_role_superuser(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """The application's role is a superuser (critical) or has BYPASSRLS (high, when the
    database uses RLS): any SQL injection owns the cluster, and no policy applies.

    prodready checks the role it connected as unless `app_role` names the application's
    role; other login superusers are reported at medium. Give the application a
    NOSUPERUSER NOBYPASSRLS role with only the grants it needs.
    """
    target = opts["app_role"] or snap.server.current_user
    role = snap.role_map.get(target)
    superuser = (
        role.superuser
        if role
        else (target == snap.server.current_user and snap.server.is_superuser)
    )
    # BYPASSRLS alone only matters where row-level security is in use.
    bypassrls = bool(role and role.bypassrls) and uses_rls(snap)
    if superuser or bypassrls:
        yield _app_role_issue(snap, target, superuser, bypassrls, explicit=bool(opts["app_role"]))
    ignored = set(opts["ignore_superusers"]) | {target}
    for other in snap.roles:
        if other.superuser and other.login and other.name not in ignored:
            yield Issue(
                object=f"role {quote_ident(other.name)}",
                severity=Severity.MEDIUM,
                detail=(
                    f"Login role {quote_ident(other.name)} is a superuser besides the bootstrap "
                    "role; keep superuser to one break-glass role and give others only what "
                    "they need."
                ),
                evidence={"role": other.name, "superuser": True, "login": True},
                verify=_role_verify(other.name),
            )


def _app_role_issue(
    snap: Snapshot, target: str, superuser: bool, bypassrls: bool, *, explicit: bool
) -> Issue:
    what = "a superuser" if superuser else "a BYPASSRLS role"
    sessions = sorted(
        {
            a.user
            for a in snap.activity
            if a.user and a.same_database and not a.is_self and a.backend_type == "client backend"
        }
    )
    elsewhere = [u for u in sessions if u != target and not _is_superuser(snap, u)]
    # Audited as an admin while the sessions in this database use another, ordinary role:
    # the application probably is that role, so this is likely a DBA's connection.
    likely_admin = not explicit and bool(elsewhere) and target not in sessions
    source = "the configured app_role" if explicit else "the role prodready connected as"
    detail = f"{quote_ident(target)} ({source}) is {what}"
    if likely_admin:
        detail += (
            f"; other sessions in this database connect as "
            f"{', '.join(map(quote_ident, elsewhere))}; if that is the application's role, "
            "audit with its connection string or set app_role."
        )
    else:
        detail += (
            ": if the application connects with it, any SQL injection owns the cluster and RLS "
            "does not apply. If it does not, audit with the application's connection string or "
            "set [checks.app_role_superuser] app_role."
        )
    detail += f" Suggested role: {_role_guidance(snap, target)}"
    return Issue(
        object=f"role {quote_ident(target)}",
        severity=Severity.LOW if likely_admin else _role_severity(superuser),
        detail=detail,
        evidence={
            "role": target,
            "superuser": superuser,
            "bypassrls": bypassrls,
            "audited_as": snap.server.current_user,
            "other_session_roles": elsewhere,
        },
        verify=_role_verify(target),
    )


def _role_severity(superuser: bool) -> Severity:
    """A superuser app owns the cluster; a BYPASSRLS one "only" skips every policy."""
    return Severity.CRITICAL if superuser else Severity.HIGH


def _is_superuser(snap: Snapshot, name: str) -> bool:
    role = snap.role_map.get(name)
    return bool(role and role.superuser)


def _role_guidance(snap: Snapshot, owner: str) -> str:
    """SQL that creates a least-privilege application role for the schemas in use."""
    skip = platform_schemas(snap) | extension_schemas(snap)
    names = sorted({t.schema for t in snap.tables if t.extension is None and t.schema not in skip})
    schemas = sql.SQL(", ").join(sql.Identifier(n) for n in names or ["public"])
    app = sql.Identifier("app_rw")
    tables = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
    statements = [
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS").format(
            app, sql.Literal("change-me")
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schemas, app),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(tables, schemas, app),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schemas, app),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON TABLES TO {}"
        ).format(sql.Identifier(owner), schemas, tables, app),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
            "GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(sql.Identifier(owner), schemas, app),
    ]
    return _script(statements) + ";"


def extension_schemas(snap: Snapshot) -> frozenset[str]:
    """Schemas an extension created or lives in (pg_partman's, pg_cron's...), public aside:
    the application has no business writing there."""
    created = {s.name for s in snap.schemas if s.extension is not None}
    homes = {e.schema for e in snap.extensions if e.schema != "public"}
    return frozenset(created | homes)


def _role_verify(name: str) -> str:
    return sqlgen.render(
        sql.SQL("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = {}").format(
            sql.Literal(name)
        )
    )


# -- secrets in readable columns --


@check(
    "sensitive_columns_exposed",
    title="Secret-looking columns readable by other roles",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    options={
        "api_roles": list(API_ROLES),
        "patterns": SENSITIVE_PATTERNS,
        "non_secret_suffixes": NON_SECRET_SUFFIXES,
    },
)
def sensitive_columns_exposed(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Secret-looking columns (password, token, api_key, ssn, card_number...) are readable by
    API roles or PUBLIC (critical; high when RLS limits the rows) or by read-only login roles
    (medium; roles that also write the table are taken to be the app that manages them).

    RLS restricts rows, not columns: revoke table-level SELECT, grant the other columns.
    """
    access = AccessModel(snap, opts["api_roles"])
    matcher = _NameMatcher(opts["patterns"], opts["non_secret_suffixes"])
    for rel in _relations(snap):
        columns = snap.columns_by_table.get((rel.schema, rel.name), [])
        secret = [c for c in columns if matcher.sensitive(c)]
        if not secret:
            continue
        issue = _secret_columns_issue(snap, access, rel, columns, secret)
        if issue is not None:
            yield issue


@dataclass(frozen=True)
class _Relation:
    schema: str
    name: str
    owner: str
    acl: list[str] | None
    rls_enabled: bool
    is_view: bool

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)


def _relations(snap: Snapshot) -> Iterator[_Relation]:
    skip = platform_schemas(snap)
    for t in snap.tables:
        if t.extension is None and t.schema not in skip:
            yield _Relation(t.schema, t.name, t.owner, t.acl, t.rls_enabled, False)
    for v in snap.views:
        if v.kind == "v" and v.extension is None and v.schema not in skip:
            yield _Relation(v.schema, v.name, v.owner, v.acl, _security_invoker(v), True)


class _NameMatcher:
    """Matches column names on whole components, so `tokenizer_version` is not a token."""

    def __init__(self, patterns: list[str], non_secret_suffixes: list[str]) -> None:
        self.patterns = [tuple(_components(p)) for p in patterns]
        self.suffixes = set(non_secret_suffixes)
        self._by_name: dict[str, bool] = {}  # column names repeat across thousands of tables

    def sensitive(self, column: Column) -> bool:
        if column.type.lower().startswith(_NON_SECRET_TYPES):
            return False
        found = self._by_name.get(column.name)
        if found is None:
            found = self._by_name[column.name] = self._name_is_sensitive(column.name)
        return found

    def _name_is_sensitive(self, name: str) -> bool:
        parts = _components(name)
        if not parts or parts[0] in _FLAG_PREFIXES:
            return False
        # `password_changed_at` describes a secret; a pattern that itself ends the name
        # (a configured `national_id`) still counts.
        described = parts[-1] in self.suffixes
        return any(
            end == len(parts) or not described
            for pattern in self.patterns
            for end in _match_ends(parts, pattern)
        )


def _components(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [p for p in re.split(r"[^a-zA-Z0-9]+|(?<=[a-zA-Z])(?=[0-9])", spaced.lower()) if p]


def _match_ends(parts: list[str], pattern: tuple[str, ...]) -> Iterator[int]:
    """Where `pattern` occurs as consecutive components: the index after each match."""
    size = len(pattern)
    for i in range(len(parts) - size + 1):
        if size and tuple(parts[i : i + size]) == pattern:
            yield i + size


def _secret_columns_issue(
    snap: Snapshot, access: AccessModel, rel: _Relation, columns: list[Column], secret: list[Column]
) -> Issue | None:
    column_acls = [(c.name, c.acl) for c in secret]
    readable = access.table_exposure(rel.acl, rel.owner, rel.schema, ["SELECT"], column_acls)
    writers = set(
        access.table_exposure(
            rel.acl, rel.owner, rel.schema, ["INSERT", "UPDATE"], column_acls
        ).roles
    )
    rows_by_role: dict[str, str] = {}
    for reader in sorted({p.role for p in readable.paths}):
        anonymous = reader == PUBLIC or reader in access.api_roles
        if not anonymous and reader in writers:
            continue  # the application itself: it must read what it writes
        rows = _rows_visible(snap, access, rel, reader)
        if rows != "none":
            rows_by_role[reader] = rows
    if not rows_by_role:
        return None
    paths = [p for p in readable.paths if p.role in rows_by_role]
    table_level = any(p.column is None for p in paths)
    names = [c.name for c in secret if table_level or any(p.column == c.name for p in paths)]
    who = [display_role(r) for r in sorted(rows_by_role)]
    every = [display_role(r) for r, rows in sorted(rows_by_role.items()) if rows == "all"]
    scope = f"every row for {', '.join(every)}" if every else "the rows their policies allow"
    return Issue(
        object=f"{rel.qualified} ({', '.join(map(quote_ident, names))})",
        severity=_secret_severity(access, rows_by_role),
        detail=(
            f"{', '.join(who)} can read {', '.join(map(quote_ident, names))} of {rel.qualified} "
            f"({scope}). RLS limits rows, not columns: grant SELECT on the other columns only."
        ),
        evidence={
            "columns": names,
            "readers": who,
            "rows": {display_role(r): rows for r, rows in sorted(rows_by_role.items())},
            "grants": sorted({p.describe() for p in paths}),
            "rls_enabled": rel.rls_enabled,
        },
        fix=_column_fix(rel, columns, names, paths),
        verify=_column_verify(rel, names),
    )


def _rows_visible(snap: Snapshot, access: AccessModel, rel: _Relation, role: str) -> str:
    """'all', 'restricted' or 'none': which rows RLS lets `role` read."""
    if rel.is_view:
        return "restricted" if rel.rls_enabled else "all"  # invoker views apply the tables' RLS
    if not rel.rls_enabled or (role != PUBLIC and access.graph.bypasses_rls(role)):
        return "all"
    policies = [
        p
        for p in snap.policies_by_table.get((rel.schema, rel.name), [])
        if p.permissive and p.command in ("SELECT", "ALL") and _applies(access, p, role)
    ]
    if not policies:
        return "none"
    return "all" if any(is_constant_true(p.using) for p in policies) else "restricted"


def _applies(access: AccessModel, policy: Policy, role: str) -> bool:
    if PUBLIC in policy.roles:
        return True
    return role != PUBLIC and any(access.graph.can_act_as(role, r) for r in policy.roles)


def _secret_severity(access: AccessModel, rows_by_role: dict[str, str]) -> Severity:
    anonymous = {
        r: rows for r, rows in rows_by_role.items() if r == PUBLIC or r in access.api_roles
    }
    if "all" in anonymous.values():
        return Severity.CRITICAL
    if anonymous:
        return Severity.HIGH
    return Severity.MEDIUM if "all" in rows_by_role.values() else Severity.LOW


def _column_fix(rel: _Relation, columns: list[Column], secret: list[str], paths: list[Path]) -> Fix:
    """Swap table-level SELECT for SELECT on the non-secret columns; drop column grants."""
    name = sql.Identifier(rel.schema, rel.name)
    others = [c.name for c in columns if c.name not in secret]
    table_grants: dict[str, bool] = {}
    column_grants: dict[str, dict[str, bool]] = {}
    for p in paths:
        if p.column is None:
            table_grants[p.grantee] = table_grants.get(p.grantee, False) or p.grantable
        else:
            column_grants.setdefault(p.grantee, {})[p.column] = p.grantable
    forward: list[sql.Composable] = []
    back: list[sql.Composable] = []
    for grantee, grantable in sorted(table_grants.items()):
        who, option = _grantee(grantee), _grant_option(grantable)
        forward.append(sql.SQL("REVOKE SELECT ON {} FROM {}").format(name, who))
        if others:
            cols = sqlgen.idents(others)
            forward.append(
                sql.SQL("GRANT SELECT ({}) ON {} TO {}{}").format(cols, name, who, option)
            )
            back.append(sql.SQL("REVOKE SELECT ({}) ON {} FROM {}").format(cols, name, who))
        back.append(sql.SQL("GRANT SELECT ON {} TO {}{}").format(name, who, option))
    for grantee, granted in sorted(column_grants.items()):
        if grantee in table_grants:
            continue  # revoking the table privilege revoked these too
        who = _grantee(grantee)
        listed = sqlgen.idents(sorted(granted))
        forward.append(sql.SQL("REVOKE SELECT ({}) ON {} FROM {}").format(listed, name, who))
        for col, grantable in sorted(granted.items()):
            back.append(
                sql.SQL("GRANT SELECT ({}) ON {} TO {}{}").format(
                    sql.Identifier(col), name, who, _grant_option(grantable)
                )
            )
    return Fix(sql=_script(forward), rollback_sql=_script(back), needs_review=True)


def _column_verify(rel: _Relation, secret: list[str]) -> str:
    return sqlgen.render(
        sql.SQL(
            "SELECT grantee, column_name FROM information_schema.column_privileges "
            "WHERE table_schema = {} AND table_name = {} AND column_name IN ({}) "
            "AND privilege_type = 'SELECT'"
        ).format(
            sql.Literal(rel.schema),
            sql.Literal(rel.name),
            sql.SQL(", ").join(sql.Literal(c) for c in secret),
        )
    )


# -- SQL helpers --


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == PUBLIC else sql.Identifier(name)


def _grant_option(grantable: bool) -> sql.Composable:
    return sql.SQL(" WITH GRANT OPTION" if grantable else "")


def _script(statements: Sequence[sql.Composable]) -> str:
    return ";\n".join(sqlgen.render(s) for s in statements)


def _regclass(schema: str, name: str) -> str:
    return sqlgen.render(
        sql.SQL("{}::regclass").format(sql.Literal(sqlgen.render(sql.Identifier(schema, name))))
    )
