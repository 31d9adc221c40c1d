"""Read what an attack needs, without changing anything: tenants, their rows, the policies.

Runs as the auditing superuser (or a BYPASSRLS role), so it sees every row: that is how it
knows which rows belong to tenant A and which to tenant B before trying to cross over.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from prodready.db.snapshot import Snapshot, Table
from prodready.errors import TargetError
from prodready.rls.identity import (
    PLATFORM_SCHEMAS,
    app_roles,
    detect_identity,
    metadata_claims,
    owner_paths,
    public_readers,
    table_key,
)
from prodready.rls.model import Identity, OwnerPath, TenantTable

ROWS_PER_TENANT = 20  # keys of each tenant's rows an attack aims at
CANDIDATES = 25  # most frequent owner ids per column considered as tenants


@dataclass(frozen=True)
class Bypass:
    """A view or SECURITY DEFINER function that may hand out a tenant table's rows."""

    kind: str  # "view" or "function"
    name: str  # schema-qualified display name
    query_b: sql.Composed  # reads what it shows of tenant B's rows (a count)
    table: str  # the tenant table behind it
    roles: list[str]  # roles that may use it


@dataclass
class Plan:
    database: str
    identity: Identity
    roles: list[str]
    tenant_a: str | None
    tenant_b: str | None
    tables: list[TenantTable]
    notes: list[str] = field(default_factory=list)
    bypasses: list[Bypass] = field(default_factory=list)


def discover(
    conn: psycopg.Connection,
    snap: Snapshot,
    *,
    roles: list[str] | None = None,
    tenants: tuple[str, str] | None = None,
    identity: Identity | None = None,
) -> Plan:
    """The attack plan: identity, roles, tenants A and B, and each table's rows by tenant."""
    _require_visibility(snap)
    identity = identity or detect_identity(snap)
    plan = Plan(snap.database.name, identity, roles or app_roles(snap, identity), None, None, [])
    paths = owner_paths(snap)
    for table in snap.tables:
        if not _in_scope(table):
            continue
        owners = paths.get(table.ident, [])
        if not owners:
            if table.rls_enabled:
                plan.notes.append(
                    f"{table.qualified}: RLS is on but no column says who owns a row; "
                    "name it in rls.toml to attack it"
                )
            continue
        plan.tables.append(_tenant_table(snap, table, owners))
    if not plan.tables:
        plan.notes.append("no tenant-scoped table found: no RLS and no owner columns")
        return plan
    a, b = tenants or _pick_tenants(conn, plan.tables)
    plan.tenant_a, plan.tenant_b = a, b
    if a is None or b is None:
        plan.notes.append("fewer than two tenants own rows: nothing to attack across")
        return plan
    pairs: dict[str, tuple[str, str]] = {}
    # tables owned directly first: a child table falls back on its parent's pair
    for tenant_table in sorted(plan.tables, key=lambda t: not any(p.direct for p in t.owners)):
        _load_rows(conn, snap, tenant_table, a, b)
        if not (tenant_table.rows_a and tenant_table.rows_b) and tenants is None:
            local = _local_pair(conn, tenant_table, pairs)
            if local is not None:
                _clear_rows(tenant_table)
                _load_rows(conn, snap, tenant_table, *local)
        if tenant_table.rows_a and tenant_table.rows_b:
            pairs[tenant_table.qualified] = (tenant_table.tenant_a or a, tenant_table.tenant_b or b)
    plan.bypasses = find_bypasses(snap, plan)
    return plan


def _local_pair(
    conn: psycopg.Connection, table: TenantTable, pairs: dict[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """Two owners of this table's rows when the run's pair owns none here."""
    for path in table.owners:
        if not path.direct and path.parent is not None:
            found = pairs.get(f"{path.parent[0]}.{path.parent[1]}")
            if found:
                return found
    a, b = _pick_tenants(conn, [table])
    return (a, b) if a is not None and b is not None else None


def _clear_rows(table: TenantTable) -> None:
    table.rows_a.clear()
    table.rows_b.clear()
    table.values_a.clear()
    table.values_b.clear()


def _require_visibility(snap: Snapshot) -> None:
    role = snap.role_map.get(snap.server.current_user)
    if snap.server.is_superuser or (role is not None and role.bypassrls):
        return
    raise TargetError(
        f"rls-test needs to see every row to know whose rows are whose: connect as a "
        f"superuser, or ALTER ROLE {snap.server.current_user} BYPASSRLS, and GRANT it the "
        "application roles it will switch to"
    )


def _in_scope(table: Table) -> bool:
    return (
        table.kind in ("r", "p")
        and not table.is_partition
        and table.extension is None
        and table.schema not in PLATFORM_SCHEMAS
    )


def _tenant_table(snap: Snapshot, table: Table, owners: list[OwnerPath]) -> TenantTable:
    key = table_key(snap, table)
    columns = {c.name: c for c in snap.columns_by_table.get(table.ident, [])}
    single = len(key) == 1 and key[0] in columns
    policies = [
        (p.name, p.command, p.roles, p.permissive)
        for p in snap.policies_by_table.get(table.ident, [])
    ]
    return TenantTable(
        schema=table.schema,
        name=table.name,
        key=key if single else ["ctid"],
        owners=owners,
        rls_enabled=table.rls_enabled,
        key_type=columns[key[0]].type if single else "tid",
        insertable=[c.name for c in columns.values() if not c.generated and c.identity != "a"],
        types={c.name: c.type for c in columns.values()},
        # DEFAULT is safe where a default exists, or NULL is allowed
        defaults={c.name for c in columns.values() if c.default or not c.not_null},
        policies=policies,
        public_readers=public_readers(snap, table.schema, table.name),
        metadata=metadata_claims(snap, table.schema, table.name),
        rows_estimate=max(int(table.reltuples), table.n_live_tup or 0),
    )


def _owned(table: TenantTable, subject: str) -> sql.Composable:
    """OR of the table's owner predicates for one subject placeholder (`a` or `b`)."""
    return sql.SQL("(") + sql.SQL(" OR ").join(
        sql.SQL(p.predicate.replace("%(subject)s", f"%({subject})s")) for p in table.owners
    ) + sql.SQL(")")  # fmt: skip


def _pick_tenants(
    conn: psycopg.Connection, tables: list[TenantTable]
) -> tuple[str | None, str | None]:
    """The two owner ids present in the most tables (then with the most rows)."""
    reach: dict[str, set[str]] = defaultdict(set)
    rows: dict[str, int] = defaultdict(int)
    for table in tables:
        for path in table.owners:
            if not path.direct:
                continue
            query = sql.SQL(
                "SELECT /* prodready */ CAST(t.{c} AS text), count(*) FROM {t} t "
                "WHERE t.{c} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT {n}"
            ).format(
                c=sql.Identifier(path.column),
                t=sql.Identifier(table.schema, table.name),
                n=sql.Literal(CANDIDATES),
            )
            for value, count in conn.execute(query).fetchall():
                reach[value].add(table.qualified)
                rows[value] += count
    ranked = sorted(reach, key=lambda v: (-len(reach[v]), -rows[v], v))
    first = ranked[0] if ranked else None
    second = ranked[1] if len(ranked) > 1 else None
    return first, second


def _load_rows(
    conn: psycopg.Connection, snap: Snapshot, table: TenantTable, a: str, b: str
) -> None:
    """Keys of rows only A owns and only B owns, one of A's rows, and owner values."""
    table.tenant_a, table.tenant_b = a, b
    target = sql.Identifier(table.schema, table.name)
    key = sql.SQL("t.ctid") if table.key == ["ctid"] else sql.SQL("t.{}").format(
        sql.Identifier(table.key[0])
    )  # fmt: skip
    params = {"a": a, "b": b}
    for who, other, into in (("a", "b", table.rows_a), ("b", "a", table.rows_b)):
        query = sql.SQL(
            "SELECT /* prodready */ CAST({k} AS text) FROM {t} t "
            "WHERE {own} AND NOT {theirs} LIMIT {n}"
        ).format(
            k=key, t=target, own=_owned(table, who), theirs=_owned(table, other),
            n=sql.Literal(ROWS_PER_TENANT),
        )  # fmt: skip
        into.extend(r[0] for r in conn.execute(query, params).fetchall())
    row = conn.execute(
        sql.SQL(
            "SELECT /* prodready */ to_jsonb(t) FROM {t} t WHERE {own} AND NOT {theirs} LIMIT 1"
        ).format(t=target, own=_owned(table, "a"), theirs=_owned(table, "b")),
        params,
    ).fetchone()
    table.template = row[0] if row else None
    count = conn.execute(
        sql.SQL("SELECT /* prodready */ count(*) FROM {t} t WHERE {own}").format(
            t=target, own=_owned(table, "a")
        ),
        params,
    ).fetchone()
    table.count_a = int(count[0]) if count else 0
    for path in table.owners:
        if path.direct:
            table.values_a[path.column], table.values_b[path.column] = a, b
        elif path.parent is not None:
            table.values_a[path.column] = _parent_key(conn, snap, path, a, b)
            table.values_b[path.column] = _parent_key(conn, snap, path, b, a)
    table.fresh = _fresh_values(conn, snap, table)


def _parent_key(
    conn: psycopg.Connection, snap: Snapshot, path: OwnerPath, owner: str, other: str
) -> str:
    """A key of a parent row `owner` owns and `other` does not ('' when there is none)."""
    assert path.parent is not None
    schema, name, column = path.parent
    parent = snap.table(schema, name)
    if parent is None:
        return ""
    predicates = [
        p.predicate.replace("t.", "p.", 1)
        for p in owner_paths(snap).get((schema, name), [])
        if p.direct
    ]
    if not predicates:
        return ""
    own = " OR ".join(predicates)
    query = sql.SQL(
        "SELECT /* prodready */ CAST(p.{c} AS text) FROM {t} p "
        "WHERE ({own}) AND NOT ({theirs}) LIMIT 1"
    ).format(
        c=sql.Identifier(column),
        t=sql.Identifier(schema, name),
        own=sql.SQL(own.replace("%(subject)s", "%(o)s")),
        theirs=sql.SQL(own.replace("%(subject)s", "%(x)s")),
    )
    row = conn.execute(query, {"o": owner, "x": other}).fetchone()
    return str(row[0]) if row else ""


def _fresh_values(conn: psycopg.Connection, snap: Snapshot, table: TenantTable) -> dict[str, Any]:
    """New values for the key and single-column unique columns, so a copied row is new."""
    columns = {c.name: c for c in snap.columns_by_table.get((table.schema, table.name), [])}
    unique = {
        i.key_columns[0]
        for i in snap.indexes_by_table.get((table.schema, table.name), [])
        if i.is_unique and len(i.key_columns) == 1 and i.predicate is None
    }
    fresh: dict[str, Any] = {}
    for name in sorted(unique | ({table.key[0]} if table.key != ["ctid"] else set())):
        column = columns.get(name)
        if column is None:
            continue
        fresh[name] = _new_value(conn, table, column.name, column.type)
    return fresh


def _new_value(conn: psycopg.Connection, table: TenantTable, column: str, type_: str) -> Any:
    if type_ == "uuid":
        return str(uuid.uuid4())
    if type_ in ("integer", "bigint", "smallint"):
        query = sql.SQL("SELECT /* prodready */ coalesce(max({c}), 0) + 7919 FROM {t}").format(
            c=sql.Identifier(column), t=sql.Identifier(table.schema, table.name)
        )
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 7919
    return f"prodready-{uuid.uuid4().hex[:12]}"


def find_bypasses(snap: Snapshot, plan: Plan) -> list[Bypass]:
    """Views without security_invoker and SECURITY DEFINER functions over tenant tables."""
    from prodready.rls.bypass import definer_functions, owner_views

    return owner_views(snap, plan) + definer_functions(snap, plan)
