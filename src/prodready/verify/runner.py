"""Running a statement N times and timing it on the server's clock.

Timing: each run is `EXPLAIN (ANALYZE, VERBOSE, BUFFERS, TIMING OFF, FORMAT JSON)` and
counts its Planning Time + Execution Time. The server's clock measures what an index
changes (planning and execution) and nothing else: client timing would add the network
round trip and the driver turning rows into Python objects, a constant that hides the
ratio and that a busy client machine makes noisy. TIMING OFF keeps per-node clock calls
out (they can double a scan's time); the plan, its buffers and row counts come from the
same runs. What this leaves out: sending the rows to the client.

Every run is a transaction that is rolled back: `SET LOCAL ROLE` (the statement's role,
so RLS policies apply), its settings with set_config(..., true), then the statement. Reads
run on a read-only session; writes run only when allowed, on a read-write session, and
never commit (sequences still advance: PostgreSQL never rolls them back).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from types import TracebackType

import psycopg
from psycopg import errors, sql

from prodready.errors import TargetError
from prodready.pg.connection import SessionLimits, connect
from prodready.verify.explain import ExplainError, PlanRun, parse_explain
from prodready.verify.model import Captured, Measurement, Statement, VerifyOptions

EXPLAIN = b"/* prodready */ EXPLAIN (ANALYZE, VERBOSE, BUFFERS, TIMING OFF, FORMAT JSON) "
IDLE_IN_TRANSACTION_MS = 60_000


class _RunFailed(Exception):
    """One run failed: the statement is reported with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _WriteRefused(_RunFailed):
    """The read-only session refused a statement whose text looks like a read."""


class Runner:
    """The sessions verify measures on: read-only always, read-write only for allowed writes."""

    def __init__(self, dsn: str, options: VerifyOptions) -> None:
        self.dsn = dsn
        self.options = options
        self._reader: psycopg.Connection | None = None
        self._writer: psycopg.Connection | None = None
        self._roles: dict[str, bool] = {}

    def __enter__(self) -> Runner:
        self._reader = self._session(read_only=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()

    @property
    def reader(self) -> psycopg.Connection:
        if self._reader is None:
            raise RuntimeError("the runner is not open")
        return self._reader

    def target(self) -> tuple[str, str]:
        """The database name and server version, for the baseline's header."""
        info = self.reader.info
        return info.dbname, info.parameter_status("server_version") or ""

    # -- measuring ---------------------------------------------------------------------------

    def measure(self, statement: Statement, runs: int, warmup: int) -> Captured:
        """Warm up, then time `runs` runs; a statement that cannot run comes back with why."""
        if statement.writes and not self.options.allow_writes:
            reason = f"writes ({statement.writes}): not run without allow_writes"
            return Captured(statement, "skipped", reason=reason)
        if statement.role is not None and not self.role_exists(statement.role):
            reason = f"role {statement.role!r} does not exist in this database"
            return Captured(statement, "skipped", reason=reason)
        try:
            for _ in range(warmup):
                self._run(statement)
            timed = [self._run(statement) for _ in range(runs)]
        except _WriteRefused as refusal:
            # it writes through something its text does not show (a view, a trigger, a
            # function in a policy): from now on it is a write, and the baseline says so
            return self.measure(replace(statement, writes=refusal.reason), runs, warmup)
        except _RunFailed as failure:
            return Captured(statement, "failed", reason=failure.reason)
        return Captured(statement, "measured", measurement=summarise(timed))

    def role_exists(self, role: str) -> bool:
        if role not in self._roles:
            row = self.reader.execute(
                "SELECT /* prodready */ EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", (role,)
            ).fetchone()
            self._roles[role] = bool(row and row[0])
        return self._roles[role]

    def _run(self, statement: Statement) -> PlanRun:
        conn = self._writer_session() if statement.writes else self.reader
        try:
            with conn.transaction(force_rollback=True), conn.cursor() as cur:
                if statement.role is not None:
                    cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(statement.role)))
                for name, value in statement.settings:
                    cur.execute("SELECT set_config(%s, %s, true)", (name, value))
                cur.execute(EXPLAIN + statement.sql.encode())
                row = cur.fetchone()
        except errors.ReadOnlySqlTransaction as exc:
            if conn is self._reader:
                raise _WriteRefused(_first_line(exc)) from None
            raise _RunFailed(
                f"the database refused the write: {_first_line(exc)} (a read-only replica?)"
            ) from None
        except errors.QueryCanceled:
            raise _RunFailed(
                f"canceled: took longer than the {self.options.statement_timeout_ms} ms "
                "statement timeout"
            ) from None
        except errors.LockNotAvailable:
            raise _RunFailed(
                f"waited more than the {self.options.lock_timeout_ms} ms lock timeout"
            ) from None
        except psycopg.OperationalError as exc:
            if conn.closed:
                raise TargetError(
                    f"lost the connection to the database: {_first_line(exc)}"
                ) from None
            raise _RunFailed(_first_line(exc)) from None
        except psycopg.Error as exc:
            raise _RunFailed(_first_line(exc)) from None
        if row is None:
            raise _RunFailed("EXPLAIN returned no plan")
        try:
            return parse_explain(row[0])
        except ExplainError as exc:
            raise _RunFailed(str(exc)) from None

    # -- sessions ----------------------------------------------------------------------------

    def _writer_session(self) -> psycopg.Connection:
        if self._writer is None:
            self._writer = self._session(read_only=False)
        return self._writer

    def _session(self, *, read_only: bool) -> psycopg.Connection:
        """A session with our timeouts and the database's own planner settings.

        Unlike an audit session, parallel query stays as the database configures it: the
        point is to time the statements the way the application runs them.
        """
        limits = SessionLimits(
            statement_timeout_ms=self.options.statement_timeout_ms,
            lock_timeout_ms=self.options.lock_timeout_ms,
        )
        conn = connect(self.dsn, read_only=read_only, limits=limits, apply_limits=False)
        try:
            for name, value in (
                ("statement_timeout", limits.statement_timeout_ms),
                ("lock_timeout", limits.lock_timeout_ms),
                ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_MS),
            ):
                conn.execute(
                    sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                )
        except BaseException:
            conn.close()
            raise
        return conn


def reads_first(statements: Sequence[Statement]) -> list[Statement]:
    """Reads before writes: a rolled-back write leaves dead rows (until vacuum) that would
    slow down the reads measured after it."""
    return [s for s in statements if not s.writes] + [s for s in statements if s.writes]


def summarise(timed: Iterable[PlanRun]) -> Measurement:
    """Times of every run; plan, indexes, buffers and rows of the first run with the usual plan."""
    runs = list(timed)
    if not runs:
        raise ValueError("no runs to summarise")
    usual = Counter(r.signature for r in runs).most_common(1)[0][0]
    first = next(r for r in runs if r.signature == usual)
    return Measurement(
        runs_ms=tuple(round(r.total_ms, 4) for r in runs),  # EXPLAIN prints 3 decimals
        plan=first.signature,
        indexes=first.indexes,
        buffers=first.buffers,
        rows=first.rows,
        planning_ms=round(statistics.median(r.planning_ms for r in runs), 4),
        plans_seen=len({r.signature for r in runs}),
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
