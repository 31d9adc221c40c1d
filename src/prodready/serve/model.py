"""One refresh of the dashboard as plain data: what the monitored database looked like."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ActivityCount:
    datname: str
    state: str
    count: int
    max_tx_duration_s: float


@dataclass(frozen=True)
class DatabaseCounters:
    datid: int
    datname: str
    numbackends: int
    xact_commit: int
    xact_rollback: int
    blks_read: int
    blks_hit: int
    tup_returned: int
    tup_fetched: int
    tup_inserted: int
    tup_updated: int
    tup_deleted: int
    conflicts: int
    temp_files: int
    temp_bytes: int
    deadlocks: int
    frozen_xid_age: int


@dataclass(frozen=True)
class StatementCounters:
    queryid: str
    calls: int
    total_ms: float
    rows: int
    mean_ms: float
    stddev_ms: float


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    application: str
    state: str
    xact_age_s: float | None
    query_age_s: float | None
    wait: str
    query: str | None


@dataclass(frozen=True)
class LockWait:
    pid: int
    user: str
    waiting_s: float | None
    blocked_by: list[int]
    query: str | None


@dataclass(frozen=True)
class Replica:
    application_name: str
    client_addr: str
    state: str
    lag_bytes: float
    lag_s: float


@dataclass(frozen=True)
class Archiver:
    archived_count: int
    failed_count: int
    last_archive_age_s: float | None
    failing: bool
    archive_mode: str


@dataclass(frozen=True)
class RelationSize:
    name: str
    table_bytes: int
    index_bytes: int


@dataclass(frozen=True)
class VacuumRow:
    name: str
    dead_rows: int
    live_rows: int
    vacuum_age_s: float | None
    frozen_xid_age: int


@dataclass(frozen=True)
class Slow:
    """Sections read on the slow cadence (they touch files or scan every table's stats)."""

    taken_at: float
    database_bytes: int
    sizes: list[RelationSize]
    vacuum: list[VacuumRow]


@dataclass(frozen=True)
class Sample:
    """One refresh; `up` False (and `error`) when the database could not be read."""

    taken_at: float
    up: bool
    error: str | None = None
    db_time_ms: float = 0.0
    queries: int = 0
    database: str = ""
    max_connections: int = 0
    in_recovery: bool = False
    activity: list[ActivityCount] = field(default_factory=list)
    databases: list[DatabaseCounters] = field(default_factory=list)
    statements: list[StatementCounters] | None = None
    sessions: list[Session] = field(default_factory=list)
    locks: list[LockWait] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)
    standby_lag_s: float | None = None
    archiver: Archiver | None = None
    slow: Slow | None = None

    def current_database(self) -> DatabaseCounters | None:
        return next((d for d in self.databases if d.datname == self.database), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
