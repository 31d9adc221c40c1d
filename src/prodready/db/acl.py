"""Who can reach an object: aclitem parsing, role membership and exposure.

An object is *exposed* when a role other than its owner (and other than a superuser)
can use it: a login role, one of Supabase's API roles (`anon`, `authenticated`, reached
through the `authenticator` login), or PUBLIC. Privileges reach a role through a direct
grant, a grant to PUBLIC, or a grant to a role it is a member of (a member can always
SET ROLE, even with NOINHERIT, so membership counts whatever the INHERIT flag says).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from prodready.db.snapshot import Role, Snapshot, quote_ident

# "public" can never be a role name (CREATE ROLE refuses it), so it safely stands for
# PUBLIC, and matches how policies.sql spells role 0.
PUBLIC = "public"

API_ROLES: tuple[str, ...] = ("anon", "authenticated")

PRIVILEGES: dict[str, str] = {
    "r": "SELECT", "w": "UPDATE", "a": "INSERT", "d": "DELETE", "D": "TRUNCATE",
    "x": "REFERENCES", "t": "TRIGGER", "X": "EXECUTE", "U": "USAGE", "C": "CREATE",
    "c": "CONNECT", "T": "TEMPORARY", "s": "SET", "A": "ALTER SYSTEM", "m": "MAINTAIN",
}  # fmt: skip

ROW_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
WRITE_PRIVILEGES = frozenset({"INSERT", "UPDATE", "DELETE", "TRUNCATE"})

# What an owner holds, and what PUBLIC holds, when the acl column is NULL (acldefault()).
_OWNER_DEFAULT = {
    "relation": "arwdDxt", "view": "arwdDxt", "sequence": "rwU", "function": "X",
    "schema": "UC", "database": "CTc", "language": "U", "type": "U",
}  # fmt: skip
_PUBLIC_DEFAULT = {"function": "X", "database": "Tc", "language": "U", "type": "U"}

# Built-in roles that read statistics and settings: what a monitoring login is granted.
MONITORING_ROLES = frozenset({"pg_monitor", "pg_read_all_stats", "pg_read_all_settings"})

# Schemas a managed platform owns; a user cannot change objects there.
SUPABASE_SCHEMAS = frozenset({
    "auth", "cron", "extensions", "graphql", "graphql_public", "net", "pgbouncer", "pgsodium",
    "pgsodium_masks", "pgtle", "realtime", "repack", "storage", "supabase_functions",
    "supabase_migrations", "vault", "_realtime", "_analytics",
})  # fmt: skip


@dataclass(frozen=True)
class AclItem:
    """One aclitem: `grantee=privileges/grantor`; the grantee is PUBLIC when empty."""

    grantee: str
    grantor: str
    privileges: frozenset[str]
    grantable: frozenset[str] = frozenset()

    @property
    def is_public(self) -> bool:
        return self.grantee == PUBLIC


def parse_aclitem(text: str) -> AclItem:
    """Parse aclitem text such as `app=arwd/owner`, `=r/owner` or `"my role"=X*/"Owner"`."""
    grantee, pos = _read_role(text, 0)
    if pos >= len(text) or text[pos] != "=":
        raise ValueError(f"malformed aclitem {text!r}")
    slash = text.find("/", pos + 1)
    if slash < 0:
        raise ValueError(f"malformed aclitem {text!r}")
    privileges: set[str] = set()
    grantable: set[str] = set()
    last: str | None = None
    for letter in text[pos + 1 : slash]:
        if letter == "*" and last is not None:
            grantable.add(last)  # "*" marks the preceding privilege WITH GRANT OPTION
        elif letter in PRIVILEGES:
            last = PRIVILEGES[letter]
            privileges.add(last)
        else:
            raise ValueError(f"unknown privilege {letter!r} in aclitem {text!r}")
    grantor, end = _read_role(text, slash + 1)
    if end != len(text):
        raise ValueError(f"malformed aclitem {text!r}")
    return AclItem(grantee or PUBLIC, grantor, frozenset(privileges), frozenset(grantable))


def _read_role(text: str, pos: int) -> tuple[str, int]:
    """A role name starting at `pos`, double-quoted when it needs to be; returns (name, end)."""
    if pos < len(text) and text[pos] == '"':
        name: list[str] = []
        pos += 1
        while pos < len(text):
            if text[pos] == '"':
                if text[pos + 1 : pos + 2] == '"':
                    name.append('"')
                    pos += 2
                    continue
                return "".join(name), pos + 1
            name.append(text[pos])
            pos += 1
        raise ValueError(f"unterminated quoted role in aclitem {text!r}")
    end = pos
    while end < len(text) and text[end] not in "=/":
        end += 1
    return text[pos:end], end


def parse_acl(acl: list[str] | None) -> list[AclItem] | None:
    """Parse an acl array; None stays None (the object has its default privileges)."""
    return None if acl is None else [parse_aclitem(item) for item in acl]


def default_acl(kind: str, owner: str) -> list[AclItem]:
    """The privileges a NULL acl stands for (what acldefault() returns)."""
    items = [_item(owner, owner, _OWNER_DEFAULT[kind])]
    if kind in _PUBLIC_DEFAULT:
        items.append(_item(PUBLIC, owner, _PUBLIC_DEFAULT[kind]))
    return items


def effective_acl(acl: list[str] | None, kind: str, owner: str) -> list[AclItem]:
    parsed = parse_acl(acl)
    return default_acl(kind, owner) if parsed is None else parsed


def _item(grantee: str, grantor: str, letters: str) -> AclItem:
    return AclItem(grantee, grantor, frozenset(PRIVILEGES[c] for c in letters))


def display_role(name: str) -> str:
    return "PUBLIC" if name == PUBLIC else quote_ident(name)


class RoleGraph:
    """Role membership, transitively: which roles a role can act as."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles: dict[str, Role] = {r.name: r for r in roles}
        self._reach: dict[str, frozenset[str]] = {}

    def reach(self, name: str) -> frozenset[str]:
        """`name` and every role it is a (transitive) member of."""
        found = self._reach.get(name)
        if found is None:
            seen = {name}
            todo = [name]
            while todo:
                role = self.roles.get(todo.pop())
                for group in role.member_of if role else ():
                    if group not in seen:
                        seen.add(group)
                        todo.append(group)
            found = self._reach[name] = frozenset(seen)
        return found

    def can_act_as(self, member: str, target: str) -> bool:
        return target in self.reach(member)

    def is_superuser(self, name: str) -> bool:
        """A superuser, or a member of one (it can SET ROLE to it)."""
        return any(self._flag(r, "superuser") for r in self.reach(name))

    def bypasses_rls(self, name: str) -> bool:
        """A role RLS cannot restrict: superuser or BYPASSRLS, itself or via SET ROLE."""
        reach = self.reach(name)
        return any(self._flag(r, "superuser") or self._flag(r, "bypassrls") for r in reach)

    def _flag(self, name: str, attribute: str) -> bool:
        role = self.roles.get(name)
        return bool(role and getattr(role, attribute))


@dataclass(frozen=True, order=True)
class Path:
    """How one role reaches one privilege: the grant it uses, and on which column if any."""

    role: str
    privilege: str
    grantee: str
    column: str | None = None
    grantable: bool = False

    def describe(self) -> str:
        what = self.privilege if self.column is None else f"{self.privilege} ({self.column})"
        if self.grantee == self.role:
            return f"{display_role(self.role)}: {what}"
        return f"{display_role(self.role)}: {what} via {display_role(self.grantee)}"


@dataclass(frozen=True)
class Exposure:
    """Every path by which non-owner roles reach an object; falsy when there is none."""

    paths: tuple[Path, ...] = ()
    api_roles: frozenset[str] = field(default=frozenset(API_ROLES))

    def __bool__(self) -> bool:
        return bool(self.paths)

    @property
    def public(self) -> bool:
        """Granted to PUBLIC: every role, including any created later."""
        return any(p.role == PUBLIC for p in self.paths)

    @property
    def roles(self) -> list[str]:
        """Concrete roles (login or API) that get in; PUBLIC is reported separately."""
        return sorted({p.role for p in self.paths if p.role != PUBLIC})

    @property
    def api(self) -> list[str]:
        return [r for r in self.roles if r in self.api_roles]

    @property
    def anonymous(self) -> bool:
        """Reachable without a database account of one's own: PUBLIC or an API role."""
        return self.public or bool(self.api)

    @property
    def privileges(self) -> list[str]:
        return sorted({p.privilege for p in self.paths})

    def privileges_of(self, roles: Iterable[str]) -> list[str]:
        wanted = set(roles)
        return sorted({p.privilege for p in self.paths if p.role in wanted})

    def only(self, privileges: Iterable[str]) -> Exposure:
        wanted = set(privileges)
        return Exposure(tuple(p for p in self.paths if p.privilege in wanted), self.api_roles)

    def who(self) -> list[str]:
        """Display names: PUBLIC first, then the roles."""
        return (["PUBLIC"] if self.public else []) + [display_role(r) for r in self.roles]

    def grants(self) -> list[str]:
        return sorted({p.describe() for p in self.paths})


class AccessModel:
    """Decides which roles can reach an object in one snapshot.

    Candidate roles are login roles and the API roles that this database refers to (in an
    acl, as an owner, in a policy, or in another session), directly or through a role they
    can act as. A login role using an API role's grant (the `authenticator` gateway) is
    represented by the API role. A login role of another database in the cluster that only
    PUBLIC defaults would reach is represented by PUBLIC itself, not listed by name.
    """

    def __init__(self, snap: Snapshot, api_roles: Iterable[str] = API_ROLES) -> None:
        self.snap = snap
        self.graph = RoleGraph(snap.roles)
        self.api_roles = frozenset(api_roles)
        self.schema_acl: dict[str, list[AclItem]] = {
            s.name: effective_acl(s.acl, "schema", s.owner) for s in snap.schemas
        }
        self.schema_owner: dict[str, str] = {s.name: s.owner for s in snap.schemas}

    @cached_property
    def referenced(self) -> frozenset[str]:
        """Roles this database mentions: grantees, owners, policy roles, session users.

        prodready's own session does not count: the audit may run as a monitoring role.
        """
        snap = self.snap
        names: set[str] = set()
        acls: list[list[str] | None] = [s.acl for s in snap.schemas]
        acls += [t.acl for t in snap.tables] + [v.acl for v in snap.views]
        acls += [c.acl for c in snap.columns] + [f.acl for f in snap.functions]
        for acl in acls:
            names.update(item.grantee for item in parse_acl(acl) or ())
        owners = [s.owner for s in snap.schemas] + [t.owner for t in snap.tables]
        owners += [v.owner for v in snap.views] + [f.owner for f in snap.functions]
        names.update(owners)
        names.update(role for p in snap.policies for role in p.roles)
        names.update(a.user for a in snap.activity if a.same_database and a.user and not a.is_self)
        names.discard(PUBLIC)
        return frozenset(names)

    @cached_property
    def candidates(self) -> list[str]:
        """Login and API roles present in this database that are not superusers, nor roles
        whose only job is monitoring (the audit's own role, a metrics exporter's)."""
        present = []
        for role in self.snap.roles:
            if not (role.login or role.name in self.api_roles):
                continue
            if self.graph.is_superuser(role.name) or self.monitoring_only(role.name):
                continue
            if self.graph.reach(role.name) & self.referenced:
                present.append(role.name)
        return sorted(present)

    def monitoring_only(self, name: str) -> bool:
        """A member of pg_monitor (or pg_read_all_stats/settings) that owns nothing and may
        change no row: what prodready's README asks for. An app role with pg_monitor still
        writes rows, so it stays an app role."""
        if name in self.api_roles or not (self.graph.reach(name) & MONITORING_ROLES):
            return False
        return name not in self._owners and name not in self._writers

    @cached_property
    def _owners(self) -> frozenset[str]:
        snap = self.snap
        owners = [s.owner for s in snap.schemas] + [t.owner for t in snap.tables]
        owners += [v.owner for v in snap.views] + [f.owner for f in snap.functions]
        return frozenset(owners)

    @cached_property
    def _writers(self) -> frozenset[str]:
        """Roles granted a write privilege on some table, view or column."""
        acls = [t.acl for t in self.snap.tables] + [v.acl for v in self.snap.views]
        acls += [c.acl for c in self.snap.columns]
        return frozenset(
            item.grantee
            for acl in acls
            for item in parse_acl(acl) or ()
            if item.privileges & WRITE_PRIVILEGES
        )

    def outsiders(self, owner: str, *, rls: bool = False) -> list[str]:
        """Candidates that are not the owner (nor able to become it); with `rls`, only
        roles that row-level security can restrict."""
        found = []
        for name in self.candidates:
            if self.graph.can_act_as(name, owner):
                continue
            if rls and self.graph.bypasses_rls(name):
                continue
            found.append(name)
        return found

    def schema_usable(self, role: str, schema: str) -> bool:
        """Whether `role` (or PUBLIC) has USAGE on `schema`; unknown schemas are usable."""
        acl = self.schema_acl.get(schema)
        if acl is None:
            return True
        if role != PUBLIC and self.graph.can_act_as(role, self.schema_owner[schema]):
            return True
        return any("USAGE" in item.privileges and self._holds(role, item) for item in acl)

    def exposure(
        self,
        *,
        acl: list[AclItem],
        owner: str,
        schema: str | None,
        privileges: Iterable[str],
        column_acls: Mapping[str, list[AclItem]] | None = None,
        rls: bool = False,
    ) -> Exposure:
        """Paths by which PUBLIC and outsider roles reach `privileges` on an object.

        `acl` is the object's effective acl; `column_acls` adds column-level grants.
        A role without USAGE on `schema` cannot reach anything inside it.
        """
        wanted = frozenset(privileges)
        paths: list[Path] = []
        for role in [PUBLIC, *self.outsiders(owner, rls=rls)]:
            if schema is not None and not self.schema_usable(role, schema):
                continue
            paths.extend(self._paths(role, None, acl, wanted))
            for column, items in (column_acls or {}).items():
                paths.extend(self._paths(role, column, items, wanted))
        return Exposure(tuple(sorted(set(paths))), self.api_roles)

    def _paths(
        self, role: str, column: str | None, acl: list[AclItem], wanted: frozenset[str]
    ) -> Iterable[Path]:
        for item in acl:
            if not self._holds(role, item):
                continue
            if item.grantee in self.api_roles and role not in self.api_roles:
                continue  # the API gateway (authenticator) acting as anon: anon stands for it
            for privilege in item.privileges & wanted:
                yield Path(role, privilege, item.grantee, column, privilege in item.grantable)

    def _holds(self, role: str, item: AclItem) -> bool:
        """Whether `role` can use a grant: it is PUBLIC's, or to a role `role` can act as."""
        if item.is_public:
            return True
        return role != PUBLIC and self.graph.can_act_as(role, item.grantee)

    # -- the object kinds checks ask about --

    def table_exposure(
        self, table_acl: list[str] | None, owner: str, schema: str, privileges: Iterable[str],
        columns: Iterable[tuple[str, list[str] | None]] = (), *, kind: str = "relation",
        rls: bool = False,
    ) -> Exposure:  # fmt: skip
        """Exposure of a table or view, column-level grants included."""
        column_acls = {name: parse_acl(acl) or [] for name, acl in columns if acl}
        return self.exposure(
            acl=effective_acl(table_acl, kind, owner),
            owner=owner,
            schema=schema,
            privileges=privileges,
            column_acls=column_acls,
            rls=rls,
        )

    def function_exposure(self, acl: list[str] | None, owner: str, schema: str) -> Exposure:
        return self.exposure(
            acl=effective_acl(acl, "function", owner),
            owner=owner,
            schema=schema,
            privileges=["EXECUTE"],
        )


def platform_schemas(snap: Snapshot) -> frozenset[str]:
    """Schemas a managed platform owns (Supabase, recognised by its admin role)."""
    return SUPABASE_SCHEMAS if "supabase_admin" in snap.role_map else frozenset()


def uses_rls(snap: Snapshot) -> bool:
    """Whether the application relies on row-level security anywhere."""
    return bool(snap.policies) or any(t.rls_enabled and t.extension is None for t in snap.tables)
