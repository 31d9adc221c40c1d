"""Reliability checks: wraparound, sequence exhaustion, constraints, timeouts, durability, WAL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from psycopg import sql

from prodready.db.acl import AccessModel
from prodready.db.checks.shared import detect_platform, managed_service
from prodready.db.snapshot import Column, Sequence, Snapshot, Table, qualify, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqlgen import render

# -- helpers shared with observability.py and connections.py --


def database_object(name: str) -> str:
    """How a finding about a whole database names its object."""
    return f"database {quote_ident(name)}"


def alter_system_fix(name: str, value: str) -> Fix:
    """ALTER SYSTEM SET + reload; ALTER SYSTEM refuses to run inside a transaction block."""
    reload = sql.SQL("SELECT pg_reload_conf()")
    setting = sql.Identifier(name)
    return Fix(
        sql=render(
            sql.SQL("ALTER SYSTEM SET {} = {};\n").format(setting, sql.Literal(value)) + reload
        ),
        rollback_sql=render(sql.SQL("ALTER SYSTEM RESET {};\n").format(setting) + reload),
        transactional=False,
    )


def setting_is_on(snap: Snapshot, name: str) -> bool | None:
    value = snap.setting(name)
    return None if value is None else value.lower() in ("on", "true", "yes", "1")


def int_setting(snap: Snapshot, name: str) -> int | None:
    value = snap.setting(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- xid_wraparound --

XID_WRAP = 2**31
XID_STOP_MARGIN = 3_000_000  # PostgreSQL stops assigning xids this close to wraparound
XID_WARN_MARGIN = 40_000_000  # ...and starts warning in the log this close


@check(
    "xid_wraparound",
    title="Transaction ID wraparound approaching",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    options={
        "high_percent": 40.0,
        "critical_percent": 75.0,
        "freeze_lag_factor": 2.0,
        "max_tables": 5,
    },
)
def xid_wraparound(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Transaction IDs are 32-bit; every row must be frozen before its xid is 2^31 old.

    When vacuum falls behind, PostgreSQL first logs warnings and then refuses new transactions
    until a manual VACUUM completes: a full outage. Find what holds vacuum back (long
    transactions, abandoned replication slots, prepared transactions), then run
    `VACUUM (FREEZE)` on the oldest tables.
    """
    freeze_max = int_setting(snap, "autovacuum_freeze_max_age") or 200_000_000
    for db in snap.cluster_databases:
        severity = _wraparound_severity(db.frozen_xid_age, freeze_max, opts)
        if severity is None:
            continue
        yield _wraparound_issue(snap, db.name, db.frozen_xid_age, freeze_max, severity, opts)


def _wraparound_severity(age: int, freeze_max: int, opts: Options) -> Severity | None:
    percent = 100.0 * age / XID_WRAP
    if percent >= opts["critical_percent"] or age >= XID_WRAP - XID_WARN_MARGIN:
        return Severity.CRITICAL
    # Some teams raise autovacuum_freeze_max_age on purpose; below it the age is by design.
    if percent >= opts["high_percent"] and age > freeze_max:
        return Severity.HIGH
    if age > freeze_max * opts["freeze_lag_factor"]:
        return Severity.MEDIUM
    return None


def _wraparound_issue(
    snap: Snapshot, name: str, age: int, freeze_max: int, severity: Severity, opts: Options
) -> Issue:
    percent = round(100.0 * age / XID_WRAP, 1)
    here = name == snap.database.name
    oldest = _oldest_tables(snap, int(opts["max_tables"])) if here else []
    # Freeze the tables that explain the age; if none does, a catalog does: database-wide.
    targets = [t for t in oldest if (t.frozen_xid_age or 0) > min(freeze_max, age // 2)]
    evidence = {
        "database": name,
        "frozen_xid_age": age,
        "percent_of_wraparound": percent,
        "xids_until_stop": XID_WRAP - XID_STOP_MARGIN - age,
        "autovacuum_freeze_max_age": freeze_max,
        "cluster_databases": {d.name: d.frozen_xid_age for d in snap.cluster_databases},
        "oldest_tables": {t.qualified: t.frozen_xid_age for t in oldest},
        "oldest_transaction_age_s": _oldest_transaction_age(snap),
    }
    detail = (
        f"The oldest unfrozen transaction ID in database {quote_ident(name)} is {age:,} "
        f"transactions old, {percent}% of the way to wraparound (autovacuum_freeze_max_age "
        f"is {freeze_max:,}); at {XID_WRAP - XID_STOP_MARGIN:,} PostgreSQL stops accepting "
        "writes."
    )
    return Issue(
        object=database_object(name),
        detail=detail + _wraparound_advice(snap, here, bool(targets)),
        evidence=evidence,
        fix=_freeze_fix(targets) if here and not snap.server.in_recovery else None,
        severity=severity,
        verify=(
            "SELECT datname, age(datfrozenxid) FROM pg_database ORDER BY 2 DESC; "
            "the age drops once the oldest tables are frozen"
        ),
    )


def _oldest_tables(snap: Snapshot, limit: int) -> list[Table]:
    candidates = (t for t in snap.tables if t.frozen_xid_age is not None and t.extension is None)
    return sorted(candidates, key=lambda t: (-(t.frozen_xid_age or 0), t.qualified))[:limit]


def _oldest_transaction_age(snap: Snapshot) -> float | None:
    ages = [a.xact_age_s for a in snap.activity if a.xact_age_s is not None and not a.is_self]
    return round(max(ages), 1) if ages else None


def _wraparound_advice(snap: Snapshot, here: bool, explained: bool) -> str:
    if not here:
        return (
            " Connect to that database and run VACUUM (FREEZE) on its oldest tables "
            "(autovacuum does it for databases that do not allow connections)."
        )
    if snap.server.in_recovery:
        return " This is a standby: freeze the tables on the primary."
    if not explained:
        return (
            " No user table here is that old: the laggard is a system catalog or another "
            "session's temporary table; a database-wide VACUUM (FREEZE) covers catalogs."
        )
    return (
        " If autovacuum is not keeping up, look first for long transactions and stale "
        "replication slots: they stop freezing from advancing."
    )


def _freeze_fix(tables: list[Table]) -> Fix:
    # One statement for all tables: VACUUM cannot run in a multi-statement string.
    names = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in tables)
    query = sql.SQL("VACUUM (FREEZE) {}").format(names) if tables else sql.SQL("VACUUM (FREEZE)")
    return Fix(sql=render(query), rollback_sql=None, transactional=False)


# -- sequence_exhaustion --

INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class _FedColumn:
    """The column a sequence feeds (from OWNED BY or a nextval() default)."""

    schema: str
    table: str
    name: str
    type: str | None
    identity: bool

    @property
    def label(self) -> str:
        return f"{qualify(self.schema, self.table)}.{quote_ident(self.name)}"


@dataclass(frozen=True)
class _Headroom:
    limit: int
    percent: float
    remaining: int
    limited_by: str  # "column" or "sequence"


@check(
    "sequence_exhaustion",
    title="Sequence or its column is running out of values",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    options={"high_percent": 75.0, "critical_percent": 90.0},
)
def sequence_exhaustion(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A sequence that reaches its maximum, or an integer column that a bigint sequence
    overflows, makes every INSERT fail: the table stops accepting rows.

    Widen the column to bigint (and the sequence with `ALTER SEQUENCE ... AS bigint`) well
    before the limit: the column change rewrites the table under an ACCESS EXCLUSIVE lock,
    so plan it for a maintenance window or migrate through a new column.
    """
    for seq in snap.sequences:
        if seq.extension is not None or seq.last_value is None or seq.increment == 0:
            continue  # unreadable values are reported as a collector limitation
        column = _fed_column(snap, seq)
        room = _headroom(seq, column)
        if room.percent < opts["high_percent"]:
            continue
        severity = Severity.CRITICAL if room.percent >= opts["critical_percent"] else None
        yield _sequence_issue(snap, seq, column, room, severity)


def _fed_column(snap: Snapshot, seq: Sequence) -> _FedColumn | None:
    if seq.owned_by_table and seq.owned_by_column:
        # OWNED BY requires the table to live in the sequence's schema
        col = _column(snap, seq.schema, seq.owned_by_table, seq.owned_by_column)
        return _FedColumn(
            seq.schema,
            seq.owned_by_table,
            seq.owned_by_column,
            seq.column_type or (col.type if col else None),
            bool(col and col.identity),
        )
    col = _column_with_default(snap, seq)
    if col is None:
        return None
    return _FedColumn(col.schema, col.table, col.name, col.type, bool(col.identity))


def _column(snap: Snapshot, schema: str, table: str, name: str) -> Column | None:
    cols = snap.columns_by_table.get((schema, table), [])
    return next((c for c in cols if c.name == name), None)


_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'::regclass\)")
_IDENT_PART = re.compile(r'"((?:[^"]|"")*)"|([^".]+)')


def _column_with_default(snap: Snapshot, seq: Sequence) -> Column | None:
    """A column whose DEFAULT calls nextval() on this sequence (sequences without OWNED BY)."""
    for col in snap.columns:
        match = _NEXTVAL.search(col.default or "")
        if match is None or snap.table(col.schema, col.table) is None:
            continue  # views may carry a copy of the default: the table is what overflows
        parts = _split_name(match.group(1).replace("''", "'"))
        if parts and parts[-1] == seq.name:
            schema = parts[0] if len(parts) == 2 else _visible_schema(snap, seq.name, col.schema)
            if schema == seq.schema:
                return col
    return None


def _split_name(text: str) -> list[str]:
    parts = []
    for quoted, plain in _IDENT_PART.findall(text):
        parts.append(quoted.replace('""', '"') if quoted else plain.lower())
    return parts


def _visible_schema(snap: Snapshot, name: str, near: str) -> str | None:
    """Where an unqualified sequence name resolves: the column's schema, public, or unique."""
    schemas = [s.schema for s in snap.sequences if s.name == name]
    for preferred in (near, "public"):
        if preferred in schemas:
            return preferred
    return schemas[0] if len(schemas) == 1 else None


def _headroom(seq: Sequence, column: _FedColumn | None) -> _Headroom:
    last = seq.last_value or 0
    # only a column narrower than bigint can overflow before its sequence does
    col_range = INT_RANGES.get(column.type or "") if column and column.type != "bigint" else None
    if seq.increment > 0:
        limit, limited_by = seq.max_value, "sequence"
        if col_range and col_range[1] <= limit:
            limit, limited_by = col_range[1], "column"
        span, used = limit - seq.min_value, last - seq.min_value
    else:
        limit, limited_by = seq.min_value, "sequence"
        if col_range and col_range[0] >= limit:
            limit, limited_by = col_range[0], "column"
        span, used = seq.max_value - limit, seq.max_value - last
    percent = 100.0 * used / span if span > 0 else 100.0
    return _Headroom(limit, round(percent, 2), abs(limit - last), limited_by)


def _sequence_issue(
    snap: Snapshot,
    seq: Sequence,
    column: _FedColumn | None,
    room: _Headroom,
    severity: Severity | None,
) -> Issue:
    evidence = {
        "sequence": seq.qualified,
        "last_value": seq.last_value,
        "max": room.limit,
        "percent_used": room.percent,
        "remaining": room.remaining,
        "increment": seq.increment,
        "sequence_type": seq.data_type,
        "sequence_max": seq.max_value if seq.increment > 0 else seq.min_value,
        "column": column.label if column else None,
        "column_type": column.type if column else None,
        "limited_by": room.limited_by,
    }
    fix, note = _widen_fix(snap, seq, column, room)
    if column is not None:
        obj = f"{qualify(column.schema, column.table)} ({quote_ident(column.name)})"
        what = f"Column {column.label} ({column.type})"
    else:
        obj, what = seq.qualified, f"Sequence {seq.qualified}"
    bound = "its type" if room.limited_by == "column" else f"sequence {seq.qualified}"
    detail = (
        f"{what} has used {room.percent}% of the values {bound} allows: last value "
        f"{seq.last_value:,} of {room.limit:,}, {room.remaining:,} left. {note}"
    )
    return Issue(
        object=obj,
        detail=detail.strip(),
        evidence=evidence,
        fix=fix,
        severity=severity,
        verify=_sequence_verify(seq, column),
    )


def _sequence_verify(seq: Sequence, column: _FedColumn | None) -> str:
    query = sql.SQL(
        "SELECT data_type, last_value, max_value FROM pg_sequences "
        "WHERE schemaname = {} AND sequencename = {}"
    ).format(sql.Literal(seq.schema), sql.Literal(seq.name))
    if column is not None:
        query = (
            sql.SQL(
                "SELECT format_type(atttypid, NULL) FROM pg_attribute "
                "WHERE attrelid = {}::regclass AND attname = {}; "
            ).format(sql.Literal(qualify(column.schema, column.table)), sql.Literal(column.name))
            + query
        )
    return render(query)


def _widen_fix(
    snap: Snapshot, seq: Sequence, column: _FedColumn | None, room: _Headroom
) -> tuple[Fix | None, str]:
    """The type changes that move the limit to bigint, and the note that explains them."""
    seq_type_bound = INT_RANGES.get(seq.data_type)
    custom_bound = seq_type_bound is None or (
        seq.max_value != seq_type_bound[1]
        if seq.increment > 0
        else seq.min_value != seq_type_bound[0]
    )
    if room.limited_by == "sequence" and (custom_bound or seq.data_type == "bigint"):
        return None, (
            "The sequence's own bound was set explicitly or is already bigint's: raise "
            "MAXVALUE/MINVALUE or reconsider the design; no automatic fix."
        )
    up: list[sql.Composable] = []
    down: list[sql.Composable] = []
    if room.limited_by == "column" and column is not None:
        for schema, table, name, old in _columns_to_widen(snap, column):
            up.append(_alter_column(schema, table, name, "bigint"))
            down.insert(0, _alter_column(schema, table, name, old))
    # Identity sequences follow their column's type; others change on their own.
    if seq.data_type != "bigint" and not (column and column.identity and up):
        up.append(_alter_sequence(seq, "bigint"))
        down.insert(0, _alter_sequence(seq, seq.data_type))
    fix = Fix(
        sql=render(sql.SQL(";\n").join(up)),
        rollback_sql=render(sql.SQL(";\n").join(down)),
        transactional=True,
        needs_review=bool(room.limited_by == "column" or column is None),
    )
    if room.limited_by == "column":
        note = (
            "ALTER COLUMN ... TYPE bigint rewrites the table and its indexes under an ACCESS "
            "EXCLUSIVE lock (reads and writes wait); the rollback fails once values exceed "
            "the old type."
        )
    elif column is None:
        note = "No column is known to use this sequence: check the columns it feeds are bigint."
    else:
        note = "Widening the sequence is a quick catalog change."
    return fix, note


def _columns_to_widen(snap: Snapshot, column: _FedColumn) -> list[tuple[str, str, str, str]]:
    """The column itself plus narrower foreign-key columns that reference it."""
    found = [(column.schema, column.table, column.name, column.type or "integer")]
    for con in snap.constraints:
        if con.type != "f" or (con.ref_schema, con.ref_table) != (column.schema, column.table):
            continue
        for mine, theirs in zip(con.columns, con.ref_columns or [], strict=False):
            ref = _column(snap, con.schema, con.table, mine)
            narrow = ref is not None and ref.type in ("smallint", "integer")
            if theirs == column.name and narrow and ref is not None:
                found.append((con.schema, con.table, mine, ref.type))
    return found


def _alter_column(schema: str, table: str, name: str, type_name: str) -> sql.Composable:
    assert type_name in INT_RANGES  # only names from our own table reach the SQL
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(
        sql.Identifier(schema, table), sql.Identifier(name), sql.SQL(type_name)
    )


def _alter_sequence(seq: Sequence, type_name: str) -> sql.Composable:
    assert type_name in INT_RANGES
    return sql.SQL("ALTER SEQUENCE {} AS {}").format(
        sql.Identifier(seq.schema, seq.name), sql.SQL(type_name)
    )


# -- unvalidated_constraint --

_CONSTRAINT_KINDS = {"f": "foreign key", "c": "check"}


@check(
    "unvalidated_constraint",
    title="Constraint added NOT VALID and never validated",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
)
def unvalidated_constraint(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A NOT VALID constraint checks new rows only: existing rows may break it, and the
    planner cannot rely on it.

    Run `ALTER TABLE ... VALIDATE CONSTRAINT`: it scans the table under SHARE UPDATE
    EXCLUSIVE, which does not block reads or writes. Nothing needs rolling back.
    """
    for con in snap.constraints:
        table = snap.table(con.schema, con.table)
        if con.validated or con.type not in _CONSTRAINT_KINDS:
            continue
        if table is not None and table.extension is not None:
            continue
        kind = _CONSTRAINT_KINDS[con.type]
        statement = sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
            sql.Identifier(con.schema, con.table), sql.Identifier(con.name)
        )
        yield Issue(
            object=f"{con.table_qualified} ({quote_ident(con.name)})",
            detail=(
                f"The {kind} constraint {quote_ident(con.name)} on {con.table_qualified} was "
                "added NOT VALID: rows that existed before are unchecked. Validating scans the "
                "table without blocking reads or writes, and fails if a row violates it. "
                "There is no rollback: validation changes no data."
            ),
            evidence={
                "constraint": con.name,
                "type": kind,
                "definition": con.definition,
                "estimated_rows": int(table.reltuples) if table and table.reltuples >= 0 else None,
            },
            fix=Fix(sql=render(statement), rollback_sql=None, transactional=True),
            verify=render(
                sql.SQL(
                    "SELECT convalidated FROM pg_constraint "
                    "WHERE conrelid = {}::regclass AND conname = {}"
                ).format(sql.Literal(con.table_qualified), sql.Literal(con.name))
            ),
        )


# -- timeouts_unset --

# Sources that describe our own session (connection options, SET) rather than the database.
_SESSION_SOURCES = frozenset({"client", "session"})
# Sources of a value every role gets unless a role or database default overrides it.
_SERVER_SOURCES = frozenset({"default", "configuration file", "command line",
                             "environment variable", "override"})  # fmt: skip
_GUC_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0,
                      "d": 86_400_000.0}  # fmt: skip


@dataclass(frozen=True)
class AppSetting:
    """A timeout as one role's new sessions get it, and which level set it."""

    role: str
    value_ms: float
    raw: str
    level: str  # "role in database", "role", "database", "server", or a pg_settings source


def guc_ms(text: str) -> float | None:
    """A time setting as written in ALTER ... SET ('8s', '1min', '500'), in milliseconds."""
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*", text)
    if match is None or match.group(2) not in ("", *_GUC_TIME_UNITS_MS):
        return None
    return float(match.group(1)) * _GUC_TIME_UNITS_MS.get(match.group(2), 1.0)


def app_roles(snap: Snapshot) -> list[str]:
    """The roles the application connects as: present login/API roles, not monitoring ones."""
    return AccessModel(snap).candidates


def effective_app_setting(snap: Snapshot, role: str, name: str) -> AppSetting | None:
    """The value `role`'s new sessions get: role defaults, then database, then server.

    For the audited role pg_settings is authoritative (read before prodready's own SETs);
    for other roles the snapshot's role_settings are layered over the server value.
    None when unknowable (the DSN overrode it, or the server value is masked).
    """
    found = snap.setting_map.get(name)
    if role == snap.server.session_user and found is not None:
        if found.source in _SESSION_SOURCES:
            return None
        value = snap.setting_ms(name)
        return None if value is None else AppSetting(role, value, found.value, found.source)
    layers = {(r.role, r.database): r.value for r in snap.role_settings if r.name == name}
    db = snap.database.name
    for key, level in (((role, db), "role in database"), ((role, None), "role"),
                       ((None, db), "database")):  # fmt: skip
        if key in layers:
            value = guc_ms(layers[key])
            return None if value is None else AppSetting(role, value, layers[key], level)
    if found is None or found.source not in _SERVER_SOURCES:
        return None  # the audited session's own override hides the server-wide value
    value = snap.setting_ms(name)
    return None if value is None else AppSetting(role, value, found.value, "server")


@check(
    "timeouts_unset",
    title="Session timeouts are not set",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    options={"statement_timeout": "30s", "idle_in_transaction_session_timeout": "60s"},
)
def timeouts_unset(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Without statement_timeout a runaway query runs for hours, holding locks and a
    connection; without idle_in_transaction_session_timeout an application bug that forgets
    to COMMIT holds locks and blocks vacuum indefinitely.

    Set both for the database (`ALTER DATABASE ... SET`) or for the application's roles
    (`ALTER ROLE ... SET`); jobs that need longer set their own value in their session.
    The check judges the roles the application uses (login and API roles this database
    grants to or that own its objects), not the role running the audit.
    """
    roles = app_roles(snap) or [snap.server.session_user]
    for name in ("statement_timeout", "idle_in_transaction_session_timeout"):
        settings = [effective_app_setting(snap, role, name) for role in roles]
        disabled = [s for s in settings if s is not None and s.value_ms == 0]
        if not disabled:
            continue
        protected = sorted(s.role for s in settings if s is not None and s.value_ms > 0)
        who = ", ".join(quote_ident(s.role) for s in disabled)
        levels = sorted({s.level for s in disabled})
        yield Issue(
            object=f"{database_object(snap.database.name)} ({name})",
            detail=(
                f"{name} is 0 (disabled) for {who} in database "
                f"{quote_ident(snap.database.name)} (set at: {', '.join(levels)}). "
                f"{_TIMEOUT_WHY[name]}"
            ),
            evidence={
                "setting": name,
                "roles_without_timeout": {s.role: s.level for s in disabled},
                "roles_with_timeout": protected,
                "audited_as": snap.server.session_user,
            },
            fix=_timeout_fix(snap, name, disabled, str(opts[name])),
            verify=f"SHOW {name} in a new application session (pooled sessions keep old values)",
        )


_TIMEOUT_WHY = {
    "statement_timeout": "A runaway query can hold locks and a connection for hours.",
    "idle_in_transaction_session_timeout": (
        "A session that forgets to COMMIT holds its locks and can block vacuum indefinitely."
    ),
}

_ROLE_LEVELS = {"role in database": "database user", "role": "user"}


def _timeout_fix(snap: Snapshot, name: str, disabled: list[AppSetting], target: str) -> Fix:
    """SET where each 0 comes from: once for the database, once per role-level override."""
    setting = sql.Identifier(name)
    db = sql.Identifier(snap.database.name)
    scopes: dict[str, tuple[sql.Composable, str | None]] = {}  # keyed by rendered scope
    for found in disabled:
        level = _ROLE_LEVELS.get(found.level, found.level)
        role = sql.Identifier(found.role)
        scope: sql.Composable
        previous: str | None
        if level == "database user":
            scope, previous = sql.SQL("ALTER ROLE {} IN DATABASE {}").format(role, db), found.raw
        elif level == "user":
            scope, previous = sql.SQL("ALTER ROLE {}").format(role), found.raw
        else:
            scope = sql.SQL("ALTER DATABASE {}").format(db)
            previous = found.raw if level == "database" else None
        scopes[render(scope)] = (scope, previous)
    ups, downs = [], []
    for scope_sql, old in scopes.values():
        ups.append(sql.SQL("{} SET {} = {}").format(scope_sql, setting, sql.Literal(target)))
        if old is None:
            downs.append(sql.SQL("{} RESET {}").format(scope_sql, setting))
        else:  # an explicit 0 at this level: put it back exactly
            downs.append(sql.SQL("{} SET {} = {}").format(scope_sql, setting, sql.Literal(old)))
    return Fix(
        sql=";\n".join(render(u) for u in ups),
        rollback_sql=";\n".join(render(d) for d in downs),
        transactional=True,
        needs_review=True,
    )


# -- wal_archiving_disabled --

_NOOP_ARCHIVE = re.compile(r"^\s*(/usr)?(/bin/)?(true|:|exit 0)\s*;?\s*$")


@check(
    "wal_archiving_disabled",
    title="No WAL archiving: no point-in-time recovery",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
)
def wal_archiving_disabled(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Without continuous WAL archiving a backup can only restore to the moment it was
    taken, and a failing archive_command fills pg_wal until the disk is full.

    Set archive_mode = on with an archive_command or archive_library (pgBackRest, WAL-G,
    Barman) and restart (a configured archiver that fails is `wal_archiving_failing`).
    Managed services archive for you: confirm their retention instead.
    """
    if snap.server.in_recovery:
        return  # a standby's setting says nothing about the primary's archive
    archiving = _archiving_state(snap)
    if archiving is not None:  # a configured archiver that fails: wal_archiving_failing
        yield _archiving_off_issue(snap, *archiving)


def _archiving_state(snap: Snapshot) -> tuple[str, str] | None:
    """(object, what is wrong) when WAL is not being archived, else None."""
    mode = (snap.setting("archive_mode") or "").lower()
    if not mode:
        return None  # setting not visible to this role
    if mode == "off":
        return "archive_mode", "archive_mode is off"
    command = (snap.setting("archive_command") or "").strip()
    library = (snap.setting("archive_library") or "").strip()
    if library:
        return None
    if command in ("", "(disabled)"):
        return "archive_command", "archive_mode is on but no archive_command or archive_library"
    if _NOOP_ARCHIVE.match(command):
        return "archive_command", f"archive_command {command!r} discards every WAL segment"
    return None


def _archiving_off_issue(snap: Snapshot, obj: str, problem: str) -> Issue:
    platform = detect_platform(snap)
    provider = platform.name if platform is not None and platform.managed else None
    physical = [r.slot_name for r in snap.replication_slots if r.slot_type == "physical"]
    senders = sorted(
        {a.application_name or "walsender" for a in snap.activity if a.backend_type == "walsender"}
    )
    evidence = {
        "archive_mode": snap.setting("archive_mode"),
        "archive_command": snap.setting("archive_command"),
        "archive_library": snap.setting("archive_library"),
        "wal_level": snap.setting("wal_level"),
        "physical_slots": physical,
        "wal_senders": senders,
        "managed_service": provider,
        "platform": platform.to_json() if platform is not None else None,
    }
    if platform is not None and platform.managed:
        detail = (
            f"{problem}, but this is {platform.name} ({platform.evidence}), which takes "
            "backups and archives WAL its own way: confirm point-in-time recovery and "
            "retention in the provider's console."
        )
        return Issue(obj, detail, evidence, severity=Severity.INFO)
    if physical or senders:
        detail = (
            f"{problem}; WAL is streamed ({', '.join(physical + senders)}). If that is "
            "pg_receivewal or Barman, point-in-time recovery is covered; a replica alone is "
            "not a backup (it replays mistakes)."
        )
        return Issue(obj, detail, evidence, severity=Severity.INFO)
    detail = (
        f"{problem} and no WAL streaming is visible: a backup restores only to the moment it "
        "was taken. Set archive_mode = on (needs a restart) with an archive_command or "
        "archive_library from a backup tool."
    )
    if platform is not None:  # a stack that is also self-hosted: say so, keep the severity
        detail += (
            f" This looks like {platform.name} ({platform.evidence}), which also runs "
            "self-hosted without point-in-time recovery. If a hosting provider archives WAL "
            f"for you, suppress `wal_archiving_disabled:{obj}` with that reason."
        )
    return Issue(
        obj,
        detail,
        evidence,
        verify="SELECT archived_count, last_archived_time FROM pg_stat_archiver; it advances",
    )


# -- fsync_disabled --


@check(
    "fsync_disabled",
    title="Durability settings turned off",
    category=Category.RELIABILITY,
    severity=Severity.CRITICAL,
)
def fsync_disabled(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """With fsync = off an operating-system crash or power loss can corrupt the whole cluster,
    not just lose recent commits; full_page_writes = off risks torn pages on crash.

    Turn them back on (`ALTER SYSTEM SET fsync = on` and reload). synchronous_commit = off is
    a deliberate trade-off (recent commits may be lost, nothing is corrupted), noted only.
    """
    managed = managed_service(snap) is not None
    if setting_is_on(snap, "fsync") is False:
        yield _durability_issue(
            "fsync",
            Severity.CRITICAL,
            "fsync is off: after an operating-system crash or power loss the data files can "
            "be corrupt beyond repair, and only a restore from backup helps.",
            managed,
        )
    if setting_is_on(snap, "full_page_writes") is False:
        yield _durability_issue(
            "full_page_writes",
            Severity.HIGH,
            "full_page_writes is off: a crash in the middle of a page write leaves a torn "
            "page that recovery cannot repair (safe only on filesystems such as ZFS that "
            "never tear pages).",
            managed,
        )
    if (snap.setting("synchronous_commit") or "").lower() == "off":
        yield Issue(
            object="synchronous_commit",
            detail=(
                "synchronous_commit is off: a crash can lose the last moments of commits "
                "(up to about three times wal_writer_delay) but never corrupts data. Fine if "
                "that was a deliberate choice."
            ),
            evidence=_setting_evidence(snap, "synchronous_commit"),
            severity=Severity.INFO,
        )


def _durability_issue(name: str, severity: Severity, detail: str, managed: bool) -> Issue:
    return Issue(
        object=name,
        detail=detail,
        evidence={"setting": name, "value": "off"},
        fix=None if managed else alter_system_fix(name, "on"),
        severity=severity,
        verify=f"SHOW {name}; it returns on",
    )


def _setting_evidence(snap: Snapshot, name: str) -> dict[str, str | None]:
    found = snap.setting_map.get(name)
    return {"setting": name, "value": found.value if found else None,
            "source": found.source if found else None}  # fmt: skip
