"""Collect a Snapshot from a live database in one read-only session.

Catalog reads run in a single REPEATABLE READ, READ ONLY transaction so every section
sees the same moment; optional sections run inside savepoints and, when they fail
(missing extension, missing privilege), become a Limitation instead of an error.
Nothing here takes a lock stronger than AccessShareLock. `collect` also opens a second
session: it reads the index definitions in the first one's exported snapshot, then the
relation sizes (file lengths, in no snapshot), while the first reads the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from prodready import __version__
from prodready.db import snapshot as s
from prodready.db.snapshot import PGSS_ACCESS
from prodready.errors import TargetError
from prodready.pg.connection import SessionLimits, apply_session_limits, connect

STATEMENT_LIMIT = 1000
SEQUENCE_BATCH = 50  # UNION ALL planning grows faster than linearly past ~50

Progress = Callable[[str], None]


def load_sql(name: str) -> str:
    return resources.files("prodready.db.sql").joinpath(f"{name}.sql").read_text()


def collect(
    dsn: str, *, limits: SessionLimits | None = None, progress: Progress | None = None
) -> s.Snapshot:
    """Connect read-only to `dsn` and return its snapshot."""
    limits = limits or SessionLimits()
    with connect(dsn, read_only=True, limits=limits, apply_limits=False) as conn:
        return collect_from(conn, limits=limits, progress=progress, side_dsn=dsn)


def collect_from(
    conn: psycopg.Connection,
    *,
    limits: SessionLimits | None = None,
    progress: Progress | None = None,
    side_dsn: str | None = None,
) -> s.Snapshot:
    """Build a snapshot over an open connection (autocommit, read-only session).

    Settings are read first, before our own timeouts are SET, so the snapshot shows the
    values the application's sessions get rather than the audit session's. With
    `side_dsn`, a second session reads indexes (in the same snapshot) and sizes meanwhile.
    """
    limits = limits or SessionLimits()
    reader = _Reader(conn, progress or (lambda _: None))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodready-side") as pool:
        if side_dsn is not None:
            reader.side = lambda locked, snapshot: pool.submit(
                _side_reads, side_dsn, limits, locked, snapshot
            )
        try:
            reader.settings = reader.rows("settings", s.Setting)
            apply_session_limits(conn, limits)
            _prepare_types(conn)
            reader.exportable = side_dsn is not None and _exports_snapshots(conn)
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                snap = reader.catalog()
            sequences = reader.sequences_with_values(reader.pending_sequences)
            snap = reader.sized(snap)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise TargetError(
                f"insufficient privileges to read the catalog: {_line(exc)}"
            ) from None
        except psycopg.errors.QueryCanceled as exc:
            raise TargetError(
                f"catalog read timed out ({_line(exc)}); raise --statement-timeout"
            ) from None
        except psycopg.OperationalError as exc:
            raise TargetError(f"lost the connection while collecting: {_line(exc)}") from None
    return replace(snap, sequences=sequences, limitations=reader.limitations)


def _exports_snapshots(conn: psycopg.Connection) -> bool:
    """Whether this server exports snapshots (PostgreSQL 13+ does, also on standbys; a proxy
    in between may not). Tried in a throwaway transaction: a failure aborts its transaction."""
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SELECT pg_export_snapshot()")
    except psycopg.OperationalError:
        raise
    except psycopg.Error:
        return False
    return True


@dataclass
class _SideResult:
    """What the second session read: index rows (None without a shared snapshot), sizes."""

    index_rows: list[dict[str, Any]] | None
    sizes: dict[int, tuple[int, int]]
    limitations: list[s.Limitation]


def _side_reads(
    dsn: str, limits: SessionLimits, locked: dict[str, list[int]], snapshot: str | None
) -> _SideResult:
    """Indexes, in the main session's exported snapshot, then sizes, on a session of its own.

    Deparsing 30,000 index definitions and opening every relation for its size each cost
    seconds on a backend whose caches are cold; a second backend does them while the first
    reads the rest of the catalog.
    """
    with connect(dsn, read_only=True, limits=limits) as conn:
        side = _Reader(conn, lambda _: None)
        side.locked = locked
        index_rows = None
        if snapshot is not None:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
                index_rows = side.fetch("indexes", locked)
        return _SideResult(index_rows, side.read_sizes(), side.limitations)


@dataclass
class _Reader:
    conn: psycopg.Connection
    progress: Progress

    def __post_init__(self) -> None:
        self.limitations: list[s.Limitation] = []
        self.settings: list[s.Setting] = []
        self.locked: dict[str, list[int]] = {"locked": []}
        self.pending_sequences: list[dict[str, Any]] = []
        self.side: Callable[[dict[str, list[int]], str | None], Future[_SideResult]] | None = None
        self.side_result: Future[_SideResult] | None = None
        self.exportable = False
        self.column_names: dict[tuple[int, int], str] = {}
        self.table_rows: list[dict[str, Any]] = []
        self.index_rows: list[dict[str, Any]] = []
        self.opclasses: dict[int, str] = {}
        self.collations: dict[int, str] = {}
        self.sizes: dict[int, tuple[int, int]] = {}

    # -- the story of a collection --

    def catalog(self) -> s.Snapshot:
        """Every section but sizes; tables and indexes are completed by `sized`."""
        server = s.ServerInfo(**self.one("server"))
        database = s.DatabaseStats(**self.one("database"))
        privileges = self.one("privileges")
        self.note_privileges(privileges, server)
        locked = self.one("locked")
        self.note_locked(locked["oids"])
        if self.side is not None:
            self.side_result = self.side(self.locked, self.export_snapshot())
        extensions = self.rows("extensions", s.Extension)
        snap = s.Snapshot(
            server=server,
            database=database,
            prodready_version=__version__,
            cluster_databases=self.rows("cluster_databases", s.ClusterDatabase),
            settings=self.settings,
            roles=self.rows("roles", s.Role),
            schemas=self.rows("schemas", s.Schema),
            tables=[],
            columns=self.columns(),
            indexes=[],
            constraints=self.rows("constraints", s.Constraint, self.locked),
            policies=self.rows("policies", s.Policy, self.locked),
            functions=self.rows("functions", s.Function),
            views=self.rows("views", s.View, self.locked),
            extensions=extensions,
            activity=[_sanitise_activity(a) for a in self.rows("activity", s.Activity)],
            statements=self.statements(extensions),
            archiver=self.optional_one("archiver", s.Archiver),
            replication_slots=self.optional_rows("replication_slots", s.ReplicationSlot),
            locked_tables=sorted(locked["tables"]),
            role_settings=self.rows("role_settings", s.RoleSetting, {}),
            triggers=self.rows("triggers", s.TableTrigger, self.locked),
        )
        self.table_rows = self.fetch("tables")
        self.opclasses = {r["oid"]: r["name"] for r in self.fetch("opclasses")}
        self.collations = {r["oid"]: r["name"] for r in self.fetch("collations")}
        self.pending_sequences = self.fetch("sequences")
        hidden = self.one("hidden_stats")["tables"]
        if hidden:
            self.limit(
                "column_statistics",
                f"column statistics of {hidden} table(s) are hidden (no SELECT privilege): "
                "table bloat cannot be estimated for them",
            )
        side = self.side_outcome()
        if side is None or side.index_rows is None:
            self.index_rows = self.fetch("indexes", self.locked)
        else:
            self.index_rows = side.index_rows
        if side is None:  # read in this transaction: it may be rolled back by a lock error
            self.sizes = self.read_sizes()
        return snap

    def sized(self, snap: s.Snapshot) -> s.Snapshot:
        """The snapshot with its tables and indexes, once sizes are known."""
        side = self.side_outcome()
        if side is not None:
            self.sizes = side.sizes
            self.limitations.extend(side.limitations)
        return replace(
            snap,
            tables=self.sized_tables(),
            indexes=self.sized_indexes(snap.server.block_size),
        )

    # -- sections with special handling --

    def export_snapshot(self) -> str | None:
        """This transaction's snapshot for the side session; None where it cannot be shared."""
        if not self.exportable:
            return None
        row = self.conn.execute("SELECT pg_export_snapshot()").fetchone()
        return str(row[0]) if row else None

    def side_outcome(self) -> _SideResult | None:
        """The side session's reads, or None when it could not run (then read here, in turn)."""
        if self.side_result is None:
            return None
        try:
            return self.side_result.result()
        except TargetError as exc:
            self.limit("side_session", f"second session unavailable ({exc}); read in turn")
            self.side_result = None
            return None

    def read_sizes(self) -> dict[int, tuple[int, int]]:
        """oid -> (own bytes, bytes including indexes); {} when DDL raced us to a lock."""
        try:
            with self.conn.transaction():
                rows = self.fetch("sizes", self.locked)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            self.limit("sizes", f"exact sizes unavailable ({_line(exc)}); estimated from relpages")
            return {}
        with_indexes = {row["oid"]: row["bytes"] for row in rows}
        for row in rows:
            if row["table_oid"] in with_indexes:
                with_indexes[row["table_oid"]] += row["bytes"]
        return {row["oid"]: (row["bytes"], with_indexes[row["oid"]]) for row in rows}

    def sized_tables(self) -> list[s.Table]:
        tables = []
        for row in self.table_rows:
            own, total = self.sizes.get(row.pop("oid"), (None, None))
            row["table_bytes"], row["total_bytes"] = own, total
            tables.append(s.Table(**row))
        return tables

    def columns(self) -> list[s.Column]:
        """Columns; (table oid, attnum) -> name is kept for naming index columns."""
        columns, names = [], self.column_names
        for row in self.fetch("columns", self.locked):
            names[(row.pop("table_oid"), row["num"])] = row["name"]
            columns.append(s.Column(**row))
        return columns

    def sized_indexes(self, block_size: int) -> list[s.Index]:
        opclasses, collations, names = self.opclasses, self.collations, self.column_names
        indexes = []
        for row in self.index_rows:
            size = self.sizes.get(row.pop("oid"))
            row["size_bytes"] = size[0] if size else row["relpages"] * block_size
            table_oid = row.pop("table_oid")
            expressions = row.pop("expression_columns") or []
            row["columns"] = [
                names.get((table_oid, num), "") if num else expressions[pos]
                for pos, num in enumerate(row["attnums"])
            ]
            row["opclasses"] = [opclasses.get(oid, "") for oid in row.pop("opclass_oids")]
            row["collations"] = [collations.get(oid) for oid in row.pop("collation_oids")]
            indexes.append(s.Index(**row))
        return indexes

    def statements(self, extensions: list[s.Extension]) -> list[s.Statement] | None:
        pgss = next((e for e in extensions if e.name == "pg_stat_statements"), None)
        if pgss is None:
            self.limit("pg_stat_statements", "extension not installed in this database")
            return None
        query = sql.SQL(load_sql("statements")).format(
            pgss=sql.Identifier(pgss.schema), limit=sql.Literal(STATEMENT_LIMIT)
        )
        try:
            with self.conn.transaction():
                rows = [s.Statement(**r) for r in self._execute(query)]
        except psycopg.errors.InsufficientPrivilege:
            # installed and working, but this role may not use the schema it lives in
            role = self.conn.info.user
            self.limit(
                PGSS_ACCESS,
                f"no USAGE on schema {pgss.schema!r}, where pg_stat_statements lives: "
                f"GRANT USAGE ON SCHEMA {sql.Identifier(pgss.schema).as_string(None)} "
                f"TO {sql.Identifier(role).as_string(None)}",
            )
            return None
        except psycopg.Error as exc:
            self.limit("pg_stat_statements", _line(exc))
            return None
        if not self.can_read_all_stats and any(r.query is None for r in rows):
            self.limit(
                "pg_stat_statements",
                "other roles' statement text is hidden (grant pg_read_all_stats)",
            )
        return rows

    def sequences_with_values(self, rows: list[dict[str, Any]]) -> list[s.Sequence]:
        """Read last_value with plain SELECTs, in small autocommit batches.

        Each batch is its own short transaction, so AccessShareLocks never accumulate.
        """
        values: dict[int, int | None] = {}
        readable = [r for r in rows if r["readable"]]
        for start in range(0, len(readable), SEQUENCE_BATCH):
            batch = readable[start : start + SEQUENCE_BATCH]
            parts = [
                sql.SQL(
                    "SELECT {} AS oid, CASE WHEN is_called THEN last_value END FROM {}.{}"
                ).format(
                    sql.Literal(r["oid"]), sql.Identifier(r["schema"]), sql.Identifier(r["name"])
                )
                for r in batch
            ]
            query = sql.SQL("/* prodready */ ") + sql.SQL(" UNION ALL ").join(parts)
            try:
                for oid, last in self.conn.execute(query).fetchall():
                    values[oid] = last
            except psycopg.Error as exc:
                self.limit("sequences", f"some sequence values unreadable: {_line(exc)}")
        hidden = len(rows) - len(readable)
        if hidden:
            self.limit("sequences", f"{hidden} sequence(s) not readable by this role")
        sequences = []
        for row in rows:
            oid = row.pop("oid")
            row.pop("readable")
            sequences.append(s.Sequence(last_value=values.get(oid), **row))
        return sequences

    def note_locked(self, oids: list[int]) -> None:
        self.locked = {"locked": oids}
        if oids:
            self.limit(
                "locks",
                f"{len(oids)} relation(s) under ACCESS EXCLUSIVE lock were not opened: their "
                "sizes, defaults, indexes, constraints and policies are left out",
            )

    def note_privileges(self, privileges: dict[str, Any], server: s.ServerInfo) -> None:
        self.can_read_all_stats = server.is_superuser or bool(privileges["read_all_stats"])
        if not self.can_read_all_stats:
            self.limit(
                "activity",
                "role lacks pg_read_all_stats: other sessions' queries and states are hidden",
            )
        if not (server.is_superuser or privileges["read_all_settings"] or privileges["monitor"]):
            self.limit("settings", "role lacks pg_read_all_settings: some settings are hidden")

    # -- plumbing --

    def limit(self, area: str, reason: str) -> None:
        self.limitations.append(s.Limitation(area=area, reason=reason))

    def _execute(
        self, query: sql.Composable | str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)  # type: ignore[arg-type]
            return cur.fetchall()

    def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.progress(name)
        return self._execute(load_sql(name), params)

    def one(self, name: str) -> dict[str, Any]:
        rows = self.fetch(name)
        if not rows:
            raise TargetError(f"catalog query {name!r} returned nothing")
        return rows[0]

    def rows(self, name: str, cls: type[Any], params: dict[str, Any] | None = None) -> list[Any]:
        return [cls(**r) for r in self.fetch(name, params)]

    def optional_rows(self, name: str, cls: type[Any]) -> list[Any]:
        try:
            with self.conn.transaction():
                return self.rows(name, cls)
        except psycopg.Error as exc:
            self.limit(name, _line(exc))
            return []

    def optional_one(self, name: str, cls: type[Any]) -> Any:
        rows = self.optional_rows(name, cls)
        return rows[0] if rows else None


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _sanitise_activity(row: s.Activity) -> s.Activity:
    """Blank string literals in other sessions' SQL: they may hold secrets."""
    if row.query is None or row.is_self:
        return row
    return replace(row, query=_STRING_LITERAL.sub("'?'", row.query))


class _IsoTimestamp(Loader):
    """timestamptz as ISO-8601 text (the session runs with DateStyle ISO, TimeZone UTC).

    Snapshots store timestamps as text; loading them as text skips a datetime round trip
    for every timestamp of tens of thousands of catalog rows.
    """

    def load(self, data: Buffer) -> str:
        return bytes(data).decode().replace(" ", "T", 1)


class _PlainNumber(Loader):
    """numeric as int or float: snapshots are JSON, which has no Decimal."""

    def load(self, data: Buffer) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


def _prepare_types(conn: psycopg.Connection) -> None:
    conn.execute("SET datestyle = 'ISO, YMD'")
    conn.execute("SET timezone = 'UTC'")
    conn.adapters.register_loader("timestamptz", _IsoTimestamp)
    conn.adapters.register_loader("numeric", _PlainNumber)


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
