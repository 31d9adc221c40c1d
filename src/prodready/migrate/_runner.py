"""Run planned steps on one locked session: lock timeouts retried with backoff, a failed
concurrent index build's INVALID leftover dropped, and the journal kept truthful throughout."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

import psycopg
from pglast import ast
from psycopg import sql

from prodready.errors import MigrationError, TargetError
from prodready.migrate import journal
from prodready.migrate._plan import Statement, Step
from prodready.migrate._render import plural
from prodready.migrate._results import Action, MigrationOutcome
from prodready.migrate._session import ApplyOptions, first_line, session_limits
from prodready.migrate.journal import Status
from prodready.pg.connection import apply_session_limits
from prodready.sqlgen import render

# Errors worth another try: our lock wait timed out, or we were chosen as a deadlock victim.
RETRYABLE = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)

EventSink = Callable[[str], None]


def backoff_delay(attempt: int, base_s: float, max_s: float, rand: float | None = None) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential, capped, jittered."""
    jitter = random.random() if rand is None else rand
    return min(max_s, base_s * 2 ** (attempt - 1)) * (0.5 + 0.5 * jitter)


@dataclass(frozen=True)
class _IndexBuild:
    """Where a CREATE INDEX CONCURRENTLY puts its index: the table (quoted, for to_regclass)."""

    table: str
    name: str | None  # None: PostgreSQL picks the name


@dataclass(frozen=True)
class _Index:
    schema: str
    name: str
    valid: bool
    oid: int


class _LocksExhausted(Exception):
    def __init__(self, attempts: int, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.attempts = attempts
        self.error = error


class Runner:
    """Runs steps on one locked session and keeps the journal truthful whatever happens."""

    def __init__(
        self,
        conn: psycopg.Connection,
        options: ApplyOptions,
        on_event: EventSink | None,
    ) -> None:
        self.conn = conn
        self.options = options
        self.on_event = on_event
        self.limits = session_limits(options)
        self.current = 0  # index of the statement running now
        self.done = 0  # statements of a non-transactional file that are done
        self.attempts = 1
        self.cleanup_problems: list[str] = []

    def run(self, step: Step) -> MigrationOutcome:
        self.current, self.done, self.attempts = step.start, step.start, 1
        self.cleanup_problems = []
        self._reset_session()
        verb = "applying" if step.direction == "up" else "rolling back"
        resume = f", resuming at statement {step.start + 1}" if step.start else ""
        kind = "transactional" if step.transactional else "non-transactional"
        self._emit(f"{verb} {step.name} ({kind}, {plural(len(step.statements))}{resume})")
        started = time.monotonic()
        try:
            if step.transactional:
                self._run_transaction(step, started)
            else:
                self._run_alone(step, started)
        except KeyboardInterrupt:
            self._record_stop(step, _stopped(step, interrupted=True), "interrupted (Ctrl-C)")
            raise
        except _LocksExhausted as exc:
            message = self._lock_message(step, exc)
            journaled = self._record_stop(step, _stopped(step, interrupted=False), message)
            raise MigrationError(
                f"{step.name}: {message}; {self._state(step, journaled)}"
            ) from None
        except psycopg.Error as exc:
            raise self._failure(step, exc) from None
        duration = _ms_since(started)
        action = Action.APPLIED if step.direction == "up" else Action.ROLLED_BACK
        self._emit(f"{str(action).replace('_', ' ')} {step.name} in {duration} ms")
        return step.outcome(action, attempts=self.attempts, duration_ms=duration)

    # -- the two ways to run a file --

    def _run_transaction(self, step: Step, started: float) -> None:
        """All statements and the journal row in one transaction, retried whole on lock timeout."""
        for attempt in count(1):
            self.attempts = attempt
            try:
                with self.conn.transaction():
                    for index, statement in enumerate(step.statements):
                        self._announce(step, index)
                        self.conn.execute(statement.text)
                    self._record(step, _finished(step), len(step.statements), _ms_since(started))
                return
            except RETRYABLE as exc:
                error = exc
            if attempt > self.options.retries:
                raise _LocksExhausted(attempt, error)
            self._pause(step, attempt, error)

    def _run_alone(self, step: Step, started: float) -> None:
        """One statement per call in autocommit; the journal follows each statement."""
        self._record(step, _running(step), step.start)
        for index in range(step.start, len(step.statements)):
            statement = step.statements[index]
            self._announce(step, index)
            if step.resuming and index == step.start and self._already_done(statement):
                self._emit(f"{step.name}: statement {index + 1} had completed before; skipped")
            else:
                self._execute_alone(step, statement)
            self.done = index + 1
            self._record(step, _running(step), self.done)
        self._record(step, _finished(step), len(step.statements), _ms_since(started))

    def _execute_alone(self, step: Step, statement: Statement) -> None:
        """Run one statement, retrying lock timeouts; a concurrent build's INVALID leftover is
        dropped before every attempt (IF NOT EXISTS would otherwise keep it and report success)
        and, when the statement finally fails, before the failure is reported."""
        build = _concurrent_build(statement.node)
        before = self._index_oids(build) if build is not None and build.name is None else None
        for attempt in count(1):
            try:
                if build is not None:
                    self._drop_invalid(step, build, before, patient=False)
                self.conn.execute(statement.text)
                return
            except RETRYABLE as exc:
                error = exc
            except BaseException:
                self._clean_up(step, build, before)
                raise
            try:
                if attempt > self.options.retries:
                    raise _LocksExhausted(attempt, error)
                self.attempts += 1
                self._pause(step, attempt, error)
            except BaseException:  # given up, or Ctrl-C while waiting
                self._clean_up(step, build, before)
                raise

    # -- lock timeouts --

    def _pause(self, step: Step, attempt: int, exc: psycopg.Error) -> None:
        delay = backoff_delay(attempt, self.options.backoff_base_s, self.options.backoff_max_s)
        reason = "deadlock" if isinstance(exc, psycopg.errors.DeadlockDetected) else "lock timeout"
        self._emit(
            f"{step.name}: {reason} at statement {self.current + 1} (attempt {attempt} of "
            f"{self.options.retries + 1}); retrying in {delay:.1f} s"
        )
        time.sleep(delay)

    def _lock_message(self, step: Step, exc: _LocksExhausted) -> str:
        return (
            f"gave up at statement {self.current + 1} of {len(step.statements)} after "
            f"{exc.attempts} attempts to get its locks (lock_timeout "
            f"{self.options.lock_timeout_ms} ms each): {first_line(exc.error)}; another "
            "session holds a conflicting lock (see pg_stat_activity), retry when it is done"
        )

    # -- CREATE INDEX CONCURRENTLY leftovers --

    def _already_done(self, statement: Statement) -> bool:
        """On resume: did the statement in flight complete before the run stopped?"""
        build = _concurrent_build(statement.node)
        if build is not None and build.name is not None:
            return any(i.valid for i in self._indexes(build.table, build.name))
        dropped = _concurrent_drop(statement.node)
        if dropped:
            return not any(self._relation_exists(name) for name in dropped)
        return False

    def _clean_up(self, step: Step, build: _IndexBuild | None, before: set[int] | None) -> None:
        """After a concurrent build finally failed: drop what it left, never raising a database
        error, so the build's own error is the one reported."""
        if build is None or self.conn.closed or self.conn.broken:
            return
        try:
            self._drop_invalid(step, build, before, patient=True)
        except psycopg.Error as exc:
            self.cleanup_problems.append(f"could not look for an invalid index ({first_line(exc)})")

    def _drop_invalid(
        self, step: Step, build: _IndexBuild, before: set[int] | None, *, patient: bool
    ) -> None:
        """Drop the INVALID index a failed concurrent build left. Patient: retry its lock
        timeouts and keep a problem note instead of raising; else one try, errors raised."""
        if build.name is None and before is None:
            return  # an unnamed build we did not watch: its leftover cannot be told apart
        found = self._indexes(build.table, build.name)
        leftovers = [i for i in found if not i.valid and (before is None or i.oid not in before)]
        for index in leftovers:
            qualified = render(sql.Identifier(index.schema, index.name))
            drop = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.Identifier(index.schema, index.name)
            )
            if patient:
                problem = self._run_with_retries(drop)
            else:
                self.conn.execute(drop)
                problem = None
            if problem is None:
                self._emit(
                    f"{step.name}: dropped the invalid index {qualified} a failed build left"
                )
            else:
                self.cleanup_problems.append(
                    f"the invalid index {qualified} could not be dropped ({problem}): "
                    f"run DROP INDEX CONCURRENTLY {qualified}"
                )

    def _run_with_retries(self, statement: sql.Composed) -> str | None:
        """None once the statement ran, else why it could not."""
        for attempt in count(1):
            try:
                self.conn.execute(statement)
                return None
            except RETRYABLE as exc:
                if attempt > self.options.retries:
                    return first_line(exc)
            except psycopg.Error as exc:
                return first_line(exc)
            time.sleep(
                backoff_delay(attempt, self.options.backoff_base_s, self.options.backoff_max_s)
            )
        return None  # unreachable: count() never ends

    def _indexes(self, table: str, name: str | None) -> list[_Index]:
        rows = self.conn.execute(
            journal.load_sql("table_indexes"),
            {"table": table, "index": name},
        ).fetchall()
        return [_Index(str(r[0]), str(r[1]), bool(r[2]), int(r[3])) for r in rows]

    def _index_oids(self, build: _IndexBuild) -> set[int]:
        return {i.oid for i in self._indexes(build.table, None)}

    def _relation_exists(self, name: str) -> bool:
        row = self.conn.execute(
            journal.load_sql("relation_exists"),
            {"name": name},
        ).fetchone()
        return bool(row and row[0])

    # -- the journal --

    def _record(
        self,
        step: Step,
        status: Status,
        steps_done: int,
        duration: int | None = None,
        error: str | None = None,
    ) -> None:
        m = step.migration
        journal.record(
            self.conn,
            number=m.number,
            name=m.name,
            checksum=m.checksum,
            status=status,
            steps_done=steps_done,
            duration_ms=duration,
            last_error=error,
        )

    def _record_stop(self, step: Step, status: Status, error: str) -> bool:
        """Journal a failure or an interruption in its own transaction; False if it could not.

        If the migration's own transaction had already committed (Ctrl-C right after COMMIT),
        the row says so and is left alone.
        """
        if self.conn.closed or self.conn.broken:
            return False
        done = 0 if step.transactional else self.done
        where = f"at statement {self.current + 1} of {len(step.statements)}"
        try:
            current = journal.read(self.conn).get(step.migration.number)
            if current is not None and current.status == _finished(step):
                return True  # only this run can have finished it: finished rows are not rerun
            self._record(step, status, done, error=f"{error} ({where})"[:2000])
        except psycopg.Error:
            return False
        return True

    def _failure(self, step: Step, exc: psycopg.Error) -> Exception:
        """The error to raise for a failed statement, after journaling it."""
        line = first_line(exc)
        where = f"statement {self.current + 1} of {len(step.statements)}"
        if self.conn.closed or self.conn.broken:
            return MigrationError(
                f"{step.name}: lost the connection at {where} ({line}); "
                f"{self._state(step, journaled=False)}"
            )
        journaled = self._record_stop(step, _stopped(step, interrupted=False), line)
        verb = "failed" if step.direction == "up" else "rollback failed"
        message = f"{step.name} {verb} at {where}: {line}; {self._state(step, journaled)}"
        if isinstance(
            exc, psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction
        ):
            return TargetError(f"{message}; role {self.conn.info.user} lacks a privilege it needs")
        return MigrationError(message)

    def _state(self, step: Step, journaled: bool = True) -> str:
        """What the database now holds of the file, for the end of an error message."""
        command = "apply" if step.direction == "up" else "rollback"
        if step.transactional:
            text = "nothing of it was applied" if step.direction == "up" else "it is still applied"
        else:
            text = (
                f"{self.done} of {len(step.statements)} statements are done, the next "
                f"{command} resumes at statement {self.done + 1}"
            )
        if self.cleanup_problems:
            text += "; " + "; ".join(self.cleanup_problems)
        if not journaled:
            text += " (the journal could not be updated)"
        return text

    # -- session hygiene and events --

    def _reset_session(self) -> None:
        """Undo any SET an earlier migration made, then restore our timeouts."""
        self.conn.execute("RESET ALL")
        apply_session_limits(self.conn, self.limits)

    def _announce(self, step: Step, index: int) -> None:
        self.current = index
        preview = " ".join(step.statements[index].text.split())
        if len(preview) > 80:
            preview = preview[:77] + "..."
        self._emit(f"{step.name} statement {index + 1}/{len(step.statements)}: {preview}")

    def _emit(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)


def _concurrent_build(node: ast.Node | None) -> _IndexBuild | None:
    if not (isinstance(node, ast.IndexStmt) and node.concurrent and node.relation):
        return None
    rel = node.relation
    parts = [p for p in (rel.schemaname, rel.relname) if p]
    return _IndexBuild(render(sql.Identifier(*parts)), node.idxname)


def _concurrent_drop(node: ast.Node | None) -> list[str]:
    """The quoted names a DROP INDEX CONCURRENTLY removes (empty for any other statement)."""
    if not (isinstance(node, ast.DropStmt) and node.concurrent and node.objects):
        return []
    return [render(sql.Identifier(*(part.sval for part in names))) for names in node.objects]


def _running(step: Step) -> Status:
    return Status.RUNNING if step.direction == "up" else Status.ROLLING_BACK


def _finished(step: Step) -> Status:
    return Status.APPLIED if step.direction == "up" else Status.ROLLED_BACK


def _stopped(step: Step, *, interrupted: bool) -> Status:
    if step.direction == "up":
        return Status.INTERRUPTED if interrupted else Status.FAILED
    return Status.ROLLBACK_INTERRUPTED if interrupted else Status.ROLLBACK_FAILED


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
