"""The database snapshot: plain, frozen, JSON-serialisable data that every check reads.

Row types mirror the catalog queries in `sql/*.sql` column for column, so a query's
result maps onto its dataclass by name. Timestamps are ISO-8601 strings; ages are
computed against `collected_at` so a saved snapshot audits the same way later.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from prodready.errors import UsageError

SCHEMA_VERSION = 1
# Limitation area: pg_stat_statements is installed, but the audit role may not use its schema
PGSS_ACCESS = "pg_stat_statements_access"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version_num: int
    version: str
    database: str
    current_user: str
    session_user: str
    is_superuser: bool
    in_recovery: bool
    postmaster_start: str
    collected_at: str
    block_size: int = 8192


@dataclass(frozen=True, slots=True)
class DatabaseStats:
    """pg_stat_database and pg_database for the connected database."""

    name: str
    size_bytes: int | None
    conn_limit: int
    frozen_xid_age: int
    numbackends: int
    xact_commit: int
    xact_rollback: int
    blks_read: int
    blks_hit: int
    temp_files: int
    temp_bytes: int
    deadlocks: int
    stats_reset: str | None


@dataclass(frozen=True, slots=True)
class ClusterDatabase:
    """Every database of the cluster, for wraparound (which is cluster-wide)."""

    name: str
    frozen_xid_age: int
    allow_connections: bool


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    value: str
    unit: str | None
    source: str
    vartype: str


@dataclass(frozen=True, slots=True)
class RoleSetting:
    """An `ALTER ROLE/DATABASE ... SET` default; None means any role / any database."""

    role: str | None
    database: str | None
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    superuser: bool
    bypassrls: bool
    login: bool
    inherit: bool
    createrole: bool
    createdb: bool
    replication: bool
    member_of: list[str]


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    owner: str
    acl: list[str] | None
    extension: str | None


@dataclass(frozen=True, slots=True)
class Table:
    """A relation with rows: ordinary (r), partitioned (p), materialized view (m), foreign (f)."""

    schema: str
    name: str
    kind: str
    owner: str
    persistence: str
    is_partition: bool
    rls_enabled: bool
    rls_forced: bool
    reloptions: list[str]
    acl: list[str] | None
    extension: str | None
    reltuples: float
    relpages: int
    total_bytes: int | None
    table_bytes: int | None
    frozen_xid_age: int | None
    has_primary_key: bool
    replica_identity: str
    # pg_stat_user_tables / pg_statio_user_tables; None when the row is missing
    seq_scan: int | None = None
    seq_tup_read: int | None = None
    idx_scan: int | None = None
    idx_tup_fetch: int | None = None
    n_tup_ins: int | None = None
    n_tup_upd: int | None = None
    n_tup_del: int | None = None
    n_tup_hot_upd: int | None = None
    n_live_tup: int | None = None
    n_dead_tup: int | None = None
    n_mod_since_analyze: int | None = None
    n_ins_since_vacuum: int | None = None
    last_vacuum: str | None = None
    last_autovacuum: str | None = None
    last_analyze: str | None = None
    last_autoanalyze: str | None = None
    vacuum_count: int | None = None
    autovacuum_count: int | None = None
    analyze_count: int | None = None
    autoanalyze_count: int | None = None
    heap_blks_read: int | None = None
    heap_blks_hit: int | None = None
    # the partitioned table this partition belongs to (None for anything else)
    parent_schema: str | None = None
    parent_name: str | None = None
    # a CREATE INDEX or REINDEX was running on the table when the snapshot was taken
    index_build_running: bool = False
    # a partitioned table's key as pg_get_partkeydef gives it: "RANGE (created_at)"
    partition_key: str | None = None

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)

    @property
    def ident(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Column:
    schema: str
    table: str
    name: str
    num: int
    type: str
    not_null: bool
    default: str | None
    identity: str
    generated: str
    acl: list[str] | None
    # storage (pg_attribute.attlen/attalign) and ANALYZE statistics (pg_stats), for bloat
    # estimates; the statistics are None until the column is analyzed or when hidden from us
    type_length: int | None = None
    type_align: str | None = None
    avg_width: int | None = None
    null_frac: float | None = None


@dataclass(frozen=True, slots=True)
class Index:
    """An index; `columns` holds one entry per index column (key columns, then INCLUDE).

    An entry is the column name, or the expression text for expression columns
    (`attnums` is 0 there). `options` is pg_index.indoption (bit 1 DESC, bit 2 NULLS FIRST).
    """

    schema: str
    table: str
    name: str
    definition: str
    method: str
    is_unique: bool
    is_primary: bool
    is_exclusion: bool
    is_valid: bool
    is_ready: bool
    is_live: bool
    constraint_name: str | None
    constraint_type: str | None
    n_key_columns: int
    attnums: list[int]
    columns: list[str]
    options: list[int]
    opclasses: list[str]
    collations: list[str | None]
    predicate: str | None
    size_bytes: int | None
    relpages: int
    extension: str | None
    idx_scan: int | None = None
    idx_tup_read: int | None = None
    idx_tup_fetch: int | None = None
    # display name of the partitioned index this one is attached to: it cannot be dropped alone
    parent_index: str | None = None
    # a foreign key relies on this (unique) index, so it cannot be dropped
    referenced_by_fk: bool = False

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)

    @property
    def table_qualified(self) -> str:
        return qualify(self.schema, self.table)

    @property
    def key_columns(self) -> list[str]:
        return self.columns[: self.n_key_columns]

    @property
    def backs_constraint(self) -> bool:
        """PK, unique, exclusion and constraint-backing indexes are never dropped."""
        return self.is_primary or self.is_unique or self.is_exclusion or bool(self.constraint_name)


@dataclass(frozen=True, slots=True)
class Constraint:
    schema: str
    table: str
    name: str
    type: str
    validated: bool
    columns: list[str]
    ref_schema: str | None
    ref_table: str | None
    ref_columns: list[str] | None
    definition: str

    @property
    def table_qualified(self) -> str:
        return qualify(self.schema, self.table)


@dataclass(frozen=True, slots=True)
class Sequence:
    schema: str
    name: str
    data_type: str
    min_value: int
    max_value: int
    increment: int
    last_value: int | None
    owned_by_table: str | None
    owned_by_column: str | None
    column_type: str | None
    extension: str | None

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Policy:
    schema: str
    table: str
    name: str
    permissive: bool
    roles: list[str]
    command: str
    using: str | None
    with_check: str | None

    @property
    def table_qualified(self) -> str:
        return qualify(self.schema, self.table)


@dataclass(frozen=True, slots=True)
class Function:
    schema: str
    name: str
    identity_args: str
    result_type: str | None
    kind: str
    language: str
    security_definer: bool
    volatility: str
    leakproof: bool
    config: list[str] | None
    owner: str
    acl: list[str] | None
    extension: str | None
    body: str | None = None  # prosrc of user-written functions (first 64 KiB)

    @property
    def is_trigger(self) -> bool:
        """Trigger functions cannot be called directly, whatever EXECUTE says."""
        return self.result_type in ("trigger", "event_trigger")

    @property
    def signature(self) -> str:
        return f"{qualify(self.schema, self.name)}({self.identity_args})"


@dataclass(frozen=True, slots=True)
class View:
    schema: str
    name: str
    kind: str
    owner: str
    options: list[str]
    acl: list[str] | None
    extension: str | None
    definition: str | None = None

    @property
    def qualified(self) -> str:
        return qualify(self.schema, self.name)


@dataclass(frozen=True, slots=True)
class RlsLeakFact:
    """A cross-tenant leak `rls-test` proved (attached by `audit --rls-test`, not collected)."""

    table: str
    command: str
    role: str
    kind: str
    rows: int
    policy: str
    fix: str
    statement: str


@dataclass(frozen=True, slots=True)
class TableTrigger:
    """A user trigger: the table, the function it calls and its full definition."""

    schema: str
    table: str
    name: str
    function_schema: str
    function_name: str
    definition: str

    @property
    def table_qualified(self) -> str:
        return qualify(self.schema, self.table)


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    schema: str
    version: str
    relocatable: bool


@dataclass(frozen=True, slots=True)
class Activity:
    """A pg_stat_activity row. `query` is None when the role may not see it."""

    pid: int
    user: str | None
    application_name: str | None
    backend_type: str | None
    state: str | None
    xact_age_s: float | None
    query_age_s: float | None
    state_age_s: float | None
    wait_event_type: str | None
    wait_event: str | None
    query: str | None
    is_self: bool
    same_database: bool


@dataclass(frozen=True, slots=True)
class Statement:
    """A pg_stat_statements row for this database (times in milliseconds)."""

    queryid: str
    user: str | None
    query: str | None
    calls: int
    total_exec_time_ms: float
    mean_exec_time_ms: float
    max_exec_time_ms: float
    stddev_exec_time_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    temp_blks_written: int


@dataclass(frozen=True, slots=True)
class Archiver:
    archived_count: int
    last_archived_time: str | None
    failed_count: int
    last_failed_time: str | None
    stats_reset: str | None


@dataclass(frozen=True, slots=True)
class BackupState:
    """What `audit --backups DIR` found: prodready dumps and restore-drill records."""

    directory: str
    dumps: int
    latest_dump: str | None
    latest_dump_at: str | None
    drills: int
    latest_drill_at: str | None
    latest_drill_ok: bool | None
    latest_good_drill_at: str | None


@dataclass(frozen=True, slots=True)
class ReplicationSlot:
    slot_name: str
    slot_type: str
    active: bool
    wal_status: str | None
    retained_bytes: int | None


@dataclass(frozen=True, slots=True)
class Limitation:
    """Something the collector could not see, and why; checks and reports say so."""

    area: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    server: ServerInfo
    database: DatabaseStats
    schema_version: int = SCHEMA_VERSION
    prodready_version: str = ""
    cluster_databases: list[ClusterDatabase] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    schemas: list[Schema] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    sequences: list[Sequence] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)
    statements: list[Statement] | None = None
    archiver: Archiver | None = None
    replication_slots: list[ReplicationSlot] = field(default_factory=list)
    limitations: list[Limitation] = field(default_factory=list)
    # tables (display names) under DDL lock: their indexes, constraints and policies are absent
    locked_tables: list[str] = field(default_factory=list)
    role_settings: list[RoleSetting] = field(default_factory=list)
    # from `audit --backups DIR`, not from the database; None when not asked
    backups: BackupState | None = None
    triggers: list[TableTrigger] = field(default_factory=list)
    # from `audit --rls-test`: None when no attack ran, [] when it ran and found no leak
    rls_leaks: list[RlsLeakFact] | None = None

    # -- lookups (cached; frozen dataclasses still allow cached_property) --

    @cached_property
    def derived(self) -> dict[str, Any]:
        """Values checks derive from this snapshot and share, each computed once per run."""
        return {}

    @cached_property
    def setting_map(self) -> dict[str, Setting]:
        return {s.name: s for s in self.settings}

    def setting(self, name: str) -> str | None:
        found = self.setting_map.get(name)
        return found.value if found else None

    def setting_ms(self, name: str) -> float | None:
        """A time setting in milliseconds (0 means disabled); None when unknown."""
        found = self.setting_map.get(name)
        if found is None:
            return None
        try:
            value = float(found.value)
        except ValueError:
            return None
        return value * _TIME_UNITS_MS.get(found.unit or "ms", 1.0)

    @cached_property
    def table_map(self) -> dict[tuple[str, str], Table]:
        return {t.ident: t for t in self.tables}

    def table(self, schema: str, name: str) -> Table | None:
        return self.table_map.get((schema, name))

    @cached_property
    def indexes_by_table(self) -> dict[tuple[str, str], list[Index]]:
        return _group(self.indexes, lambda i: (i.schema, i.table))

    @cached_property
    def columns_by_table(self) -> dict[tuple[str, str], list[Column]]:
        return _group(self.columns, lambda c: (c.schema, c.table))

    @cached_property
    def constraints_by_table(self) -> dict[tuple[str, str], list[Constraint]]:
        return _group(self.constraints, lambda c: (c.schema, c.table))

    @cached_property
    def policies_by_table(self) -> dict[tuple[str, str], list[Policy]]:
        return _group(self.policies, lambda p: (p.schema, p.table))

    @cached_property
    def role_map(self) -> dict[str, Role]:
        return {r.name: r for r in self.roles}

    @cached_property
    def extension_map(self) -> dict[str, Extension]:
        return {e.name: e for e in self.extensions}

    @cached_property
    def collected_at_dt(self) -> datetime:
        return datetime.fromisoformat(self.server.collected_at)

    def age_seconds(self, timestamp: str | None) -> float | None:
        """Seconds between `timestamp` and the moment the snapshot was taken."""
        if timestamp is None:
            return None
        return (self.collected_at_dt - datetime.fromisoformat(timestamp)).total_seconds()

    @cached_property
    def stats_age_seconds(self) -> float:
        """How long statistics have accumulated: since stats_reset, else since server start."""
        since = self.database.stats_reset or self.server.postmaster_start
        return max(0.0, self.age_seconds(since) or 0.0)

    @property
    def stats_since(self) -> str:
        return self.database.stats_reset or self.server.postmaster_start

    def limited(self, area: str) -> Limitation | None:
        return next((lim for lim in self.limitations if lim.area == area), None)

    # -- JSON --

    def to_json(self) -> dict[str, Any]:
        return _to_plain(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")

    @classmethod
    def from_json(cls, data: Any) -> Snapshot:
        if not isinstance(data, dict) or "server" not in data or "database" not in data:
            raise UsageError("not a prodready snapshot (missing 'server'/'database')")
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise UsageError("not a prodready snapshot (missing 'schema_version')")
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"snapshot schema {version} is newer than this prodready understands "
                f"({SCHEMA_VERSION}); upgrade prodready"
            )
        try:
            return _from_plain(cls, data)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise UsageError(f"corrupt snapshot: {exc}") from None

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read snapshot {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"corrupt snapshot {path}: not valid JSON ({exc})") from None
        return cls.from_json(data)


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0}

K = TypeVar("K")
R = TypeVar("R")


def _group(rows: list[R], key: typing.Callable[[R], K]) -> dict[K, list[R]]:
    grouped: dict[K, list[R]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


_KEYWORDS: frozenset[str] | None = None


def _reserved() -> frozenset[str]:
    global _KEYWORDS
    if _KEYWORDS is None:
        from pglast import keywords

        _KEYWORDS = frozenset(
            keywords.RESERVED_KEYWORDS
            | keywords.TYPE_FUNC_NAME_KEYWORDS
            | keywords.COL_NAME_KEYWORDS
        )
    return _KEYWORDS


@lru_cache(maxsize=65536)  # called for every object of every check on large catalogs
def quote_ident(name: str) -> str:
    """Quote a name for display the way PostgreSQL's quote_ident would."""
    plain = (
        name != ""
        and (name[0].islower() or name[0] == "_")
        and name.isascii()
        and all(c.islower() or c.isdigit() or c == "_" for c in name)
        and name not in _reserved()
    )
    return name if plain else '"' + name.replace('"', '""') + '"'


def qualify(schema: str, name: str) -> str:
    """`schema.name` for display, each part quoted only where PostgreSQL would need it."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


# -- plain-data conversion: fast, driven by the dataclass field types --

_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_CACHE.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls))
        _FIELD_CACHE[cls] = names
    return names


def _to_plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {name: _to_plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, list):
        if value and hasattr(value[0], "__dataclass_fields__"):
            names = _field_names(type(value[0]))
            return [{n: getattr(row, n) for n in names} for row in value]
        return value
    return value


def _row_type(hint: Any) -> type | None:
    """The dataclass inside `X`, `X | None`, `list[X]` or `list[X] | None`, if any."""
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and hasattr(arg, "__dataclass_fields__"):
            return arg
        inner = typing.get_args(arg)
        if typing.get_origin(arg) is list and inner and hasattr(inner[0], "__dataclass_fields__"):
            return typing.cast(type, inner[0])
    return None


_HINTS: dict[type, dict[str, Any]] = {}


def _from_plain(cls: type, data: dict[str, Any]) -> Any:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    known = set(_field_names(cls))
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue  # fields from a newer minor version are ignored
        row = _row_type(hints[name])
        if row is not None and isinstance(value, list):
            kwargs[name] = [row(**item) for item in value]
        elif row is not None and isinstance(value, dict):
            kwargs[name] = _from_plain(row, value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
