"""The journal `prodready.migrations`: one row per migration number, saying what the database holds.

Statuses of the up file: running, applied, failed, interrupted; of the down file: rolling_back,
rolled_back, rollback_failed, rollback_interrupted. `steps_done` counts the statements already run
of a non-transactional file (the up or the down, as the status says), so a later run resumes after
them; a transactional file is all or nothing, so its row always says 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from prodready.errors import TargetError
from prodready.sqlgen import render

SCHEMA = "prodready"
TABLE = "migrations"


class Status(StrEnum):
    RUNNING = "running"
    APPLIED = "applied"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLBACK_INTERRUPTED = "rollback_interrupted"


UP_UNFINISHED = frozenset({Status.RUNNING, Status.FAILED, Status.INTERRUPTED})
DOWN_UNFINISHED = frozenset(
    {Status.ROLLING_BACK, Status.ROLLBACK_FAILED, Status.ROLLBACK_INTERRUPTED}
)


@dataclass(frozen=True)
class JournalRow:
    """One migration's row as read from the journal."""

    id: int
    name: str
    checksum: str
    status: Status
    steps_done: int
    applied_at: datetime | None
    duration_ms: int | None
    last_error: str | None
    updated_at: datetime | None

    @property
    def has_effects(self) -> bool:
        """False when the database holds nothing of this migration: rolled back, never applied,
        or an attempt that failed before its first statement took effect."""
        if self.status == Status.ROLLED_BACK:
            return False
        if self.status in (Status.FAILED, Status.INTERRUPTED):
            return self.steps_done > 0
        return True  # applied, running (a run died mid-file), or a rollback that did not finish

    @property
    def down_unfinished(self) -> bool:
        return self.status in DOWN_UNFINISHED


def load_sql(name: str) -> str:
    return resources.files("prodready.migrate.sql").joinpath(f"{name}.sql").read_text()


def query(name: str) -> sql.Composed:
    """A journal query from sql/, with the schema and table quoted by psycopg."""
    return sql.SQL(load_sql(name)).format(
        schema=sql.Identifier(SCHEMA), journal=sql.Identifier(SCHEMA, TABLE)
    )


def qualified_name() -> str:
    return render(sql.Identifier(SCHEMA, TABLE))


def exists(conn: psycopg.Connection) -> tuple[bool, bool]:
    """(schema exists, table exists)."""
    row = conn.execute(
        load_sql("journal_state"),
        {"schema": render(sql.Identifier(SCHEMA)), "table": qualified_name()},
    ).fetchone()
    return (bool(row[0]), bool(row[1])) if row else (False, False)


def ensure(conn: psycopg.Connection) -> None:
    """Create the schema and table when missing, in one transaction; missing rights name the fix."""
    schema_exists, table_exists = exists(conn)
    if schema_exists and table_exists:
        return
    role = _current_role(conn)
    try:
        with conn.transaction():
            if not schema_exists:
                conn.execute(query("journal_schema"))
            conn.execute(query("journal_table"))
    except psycopg.errors.InsufficientPrivilege as exc:
        what = (
            f"CREATE on database {conn.info.dbname}"
            if not schema_exists
            else f"CREATE on schema {SCHEMA}"
        )
        raise TargetError(
            f"role {role} cannot create the journal {qualified_name()} ({_first_line(exc)}): "
            f"it needs {what}, or a DBA creates the schema for it "
            f"(CREATE SCHEMA {SCHEMA} AUTHORIZATION {render(sql.Identifier(role))})"
        ) from None


def read(conn: psycopg.Connection) -> dict[int, JournalRow]:
    """The journal's rows by migration number; empty when there is no journal yet."""
    try:
        if not exists(conn)[1]:
            return {}
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query("journal_read")).fetchall()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _no_access(conn, exc) from None
    return {int(r["id"]): _row(r) for r in rows}


def record(
    conn: psycopg.Connection,
    *,
    number: int,
    name: str,
    checksum: str,
    status: Status,
    steps_done: int = 0,
    duration_ms: int | None = None,
    last_error: str | None = None,
) -> None:
    """Upsert one migration's row (commits at once on an autocommit connection)."""
    params = {
        "id": number,
        "name": name,
        "checksum": checksum,
        "status": str(status),
        "steps_done": steps_done,
        "duration_ms": duration_ms,
        "last_error": last_error,
    }
    try:
        conn.execute(query("journal_record"), params)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _no_access(conn, exc) from None


def _row(r: dict[str, Any]) -> JournalRow:
    try:
        status = Status(r["status"])
    except ValueError:
        status = Status.RUNNING  # unknown: assume the worst, something may be half done
    return JournalRow(
        id=int(r["id"]),
        name=str(r["name"]),
        checksum=str(r["checksum"]),
        status=status,
        steps_done=int(r["steps_done"]),
        applied_at=r["applied_at"],
        duration_ms=None if r["duration_ms"] is None else int(r["duration_ms"]),
        last_error=r["last_error"],
        updated_at=r["updated_at"],
    )


def _no_access(conn: psycopg.Connection, exc: psycopg.Error) -> TargetError:
    role = _current_role(conn)
    return TargetError(
        f"role {role} may not use the journal {qualified_name()} ({_first_line(exc)}): "
        f"grant it USAGE on schema {SCHEMA} and SELECT, INSERT, UPDATE on the table"
    )


def _current_role(conn: psycopg.Connection) -> str:
    return conn.info.user  # the login role; asking the server could fail in an aborted transaction


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    text = primary or str(exc)
    return (text.strip().splitlines() or [""])[0]
