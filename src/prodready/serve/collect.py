"""The dashboard's only database I/O: one read-only monitoring session, reconnected when lost."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from prodready.errors import ProdreadyError
from prodready.pg.connection import SessionLimits, connect
from prodready.serve import model as m

# Tight limits: a monitoring query that takes seconds is itself a problem on production.
MONITOR_LIMITS = SessionLimits(statement_timeout_ms=2_000, lock_timeout_ms=500, connect_timeout_s=5)
TOP_N = 10
LONG_RUNNING_S = 5.0
IDLE_IN_XACT_S = 5.0
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")

R = TypeVar("R")


def load_sql(name: str) -> str:
    return resources.files("prodready.serve.sql").joinpath(f"{name}.sql").read_text()


def blank_literals(query: str | None) -> str | None:
    """Other sessions' SQL may carry secrets in literals; the page never shows them."""
    return None if query is None else _STRING_LITERAL.sub("'?'", query)


@dataclass
class _Static:
    max_connections: int
    database: str
    in_recovery: bool
    pgss_schema: str | None


class Monitor:
    """Owns the single monitoring connection; `sample()` never raises for a lost database."""

    def __init__(self, dsn: str, limits: SessionLimits = MONITOR_LIMITS) -> None:
        self.dsn = dsn
        self.limits = limits
        self.conn: psycopg.Connection | None = None
        self.static: _Static | None = None
        self.texts: dict[str, str] = {}
        self._queries = 0
        self._db_ms = 0.0

    # -- connection --

    def ensure_connected(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.dsn, read_only=True, limits=self.limits)
            row = self._one("static")
            self.static = _Static(
                int(row["max_connections"]), row["database"], bool(row["in_recovery"]),
                row["pgss_schema"],
            )  # fmt: skip
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def reapply_limits(self) -> None:
        """After an audit ran on this session (it SETs its own timeouts), restore ours."""
        from prodready.pg.connection import apply_session_limits

        if self.conn is not None and not self.conn.closed:
            apply_session_limits(self.conn, self.limits)

    # -- one refresh --

    def sample(self, *, slow: bool) -> m.Sample:
        """Read every fast section (and the slow ones when `slow`); down on any failure."""
        now = time.time()
        self._queries, self._db_ms = 0, 0.0
        try:
            self.ensure_connected()
            assert self.static is not None
            sample = m.Sample(
                taken_at=now,
                up=True,
                database=self.static.database,
                max_connections=self.static.max_connections,
                in_recovery=self.static.in_recovery,
                activity=self._rows("activity", m.ActivityCount),
                databases=self._rows("databases", m.DatabaseCounters),
                statements=self._statements(),
                sessions=[
                    _blank(s)
                    for s in self._rows(
                        "sessions", m.Session, {"long_s": LONG_RUNNING_S, "idle_s": IDLE_IN_XACT_S}
                    )
                ],
                locks=[_blank(lock) for lock in self._rows("locks", m.LockWait)],
                replicas=self._rows("replication", m.Replica),
                standby_lag_s=self._one("standby")["lag_s"],
                archiver=self._archiver(),
                slow=self._slow(now) if slow else None,
            )
        except (psycopg.Error, ProdreadyError, OSError) as exc:
            self.close()
            return m.Sample(taken_at=now, up=False, error=_first_line(exc))
        return _with_cost(sample, self._queries, self._db_ms)

    def _statements(self) -> list[m.StatementCounters] | None:
        assert self.static is not None
        if self.static.pgss_schema is None:
            return None
        rows = self._rows("statements", m.StatementCounters, schema=self.static.pgss_schema)
        return rows

    def fetch_texts(self, queryids: list[str]) -> None:
        """Texts for statements about to be shown, once each (reading them is the costly part)."""
        missing = [q for q in queryids if q not in self.texts]
        if not missing or self.static is None or self.static.pgss_schema is None:
            return
        try:
            rows = self._dicts("statement_texts", {"ids": missing}, schema=self.static.pgss_schema)
        except psycopg.Error:
            return
        for row in rows:
            self.texts[row["queryid"]] = blank_literals(row["query"]) or ""

    def _archiver(self) -> m.Archiver | None:
        try:
            return m.Archiver(**self._one("archiver"))
        except psycopg.errors.InsufficientPrivilege:
            return None

    def _slow(self, now: float) -> m.Slow:
        return m.Slow(
            taken_at=now,
            database_bytes=int(self._one("database_size")["bytes"]),
            sizes=self._rows("sizes", m.RelationSize, {"limit": TOP_N}),
            vacuum=self._rows("vacuum", m.VacuumRow, {"limit": TOP_N}),
        )

    # -- helpers: every query is timed, so a refresh knows its own database cost --

    def _dicts(
        self, name: str, params: dict[str, Any] | None = None, schema: str | None = None
    ) -> list[dict[str, Any]]:
        assert self.conn is not None
        text = load_sql(name)
        query: Any = sql.SQL(text).format(pgss=sql.Identifier(schema)) if schema else text
        started = time.perf_counter()
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, params).fetchall()
        self._db_ms += (time.perf_counter() - started) * 1000
        self._queries += 1
        return rows

    def _one(self, name: str) -> dict[str, Any]:
        rows = self._dicts(name)
        return rows[0] if rows else {}

    def _rows(
        self,
        name: str,
        row_type: Callable[..., R],
        params: dict[str, Any] | None = None,
        schema: str | None = None,
    ) -> list[R]:
        return [row_type(**row) for row in self._dicts(name, params, schema)]


def _blank(row: R) -> R:
    from dataclasses import replace

    return replace(row, query=blank_literals(row.query))  # type: ignore[attr-defined,type-var]


def _with_cost(sample: m.Sample, queries: int, db_ms: float) -> m.Sample:
    from dataclasses import replace

    return replace(sample, queries=queries, db_time_ms=round(db_ms, 2))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
