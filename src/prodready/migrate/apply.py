"""Apply and roll back a migration directory safely, with a journal that always tells the truth.

A run, in order: connect as prodready (writable, our lock_timeout and statement_timeout) → refuse
a replica or a read-only database → take the advisory lock → read the journal → check the
directory against it (edited or missing files, order, review-required, statements that cannot
run as written) → run each migration → release the lock. Nothing runs until every check passed.

A transactional migration runs together with its journal row in ONE transaction: applied
entirely or not at all. A non-transactional one (`-- prodready:transactional=false`) runs one
statement per call in autocommit; its row is committed as `running` first and `steps_done` moves
after each statement, so an interrupted run is resumed at the right statement by the next one.
A lock timeout (or deadlock) is retried with exponential backoff; a failed or cancelled
`CREATE INDEX CONCURRENTLY` leaves an INVALID index, which is dropped before anything else.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import count
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from psycopg import sql

from prodready.errors import MigrationError, TargetError, UsageError
from prodready.migrate import journal
from prodready.migrate.journal import JournalRow, Status
from prodready.migrate.model import MigrationFile, read_migrations
from prodready.pg.connection import SessionLimits, apply_session_limits, connect, describe_target
from prodready.sqlgen import render, split_statements

# pg_try_advisory_lock(int4, int4) key: 'prod' and 'migr' in ASCII. Per database: two databases of
# one cluster can be migrated at once. pg_locks shows it as classid/objid with objsubid = 2.
LOCK_KEY = (0x70726F64, 0x6D696772)

# Errors worth another try: our lock wait timed out, or we were chosen as a deadlock victim.
RETRYABLE = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)

EventSink = Callable[[str], None]


@dataclass(frozen=True)
class ApplyOptions:
    """How carefully to run.

    lock_timeout_ms: the longest any statement queues for a lock; others queue behind a waiting
      DDL statement, so this bounds how long the application can be blocked by us. Must be > 0.
    statement_timeout_ms: 0 (no limit) by default: an index build on a large table legitimately
      runs for minutes, and killing it wastes the work; lock_timeout is what protects the app.
    retries: extra attempts after a lock timeout; the wait before attempt k+1 is
      backoff_base_s * 2**(k-1), capped at backoff_max_s, times a random factor in [0.5, 1].
    """

    lock_timeout_ms: int = 2_000
    statement_timeout_ms: int = 0
    retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    dry_run: bool = False


class Action(StrEnum):
    APPLIED = "applied"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"
    WOULD_APPLY = "would_apply"
    WOULD_ROLL_BACK = "would_roll_back"


@dataclass(frozen=True)
class MigrationOutcome:
    """What happened to one migration in this run."""

    number: int
    name: str
    action: Action
    transactional: bool
    statements: int = 0  # statements run (or that would run) by this invocation
    resumed_from: int = 0  # statements an earlier, interrupted run had already done
    attempts: int = 0
    duration_ms: int = 0
    note: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of `apply` or `rollback`, in the order the migrations were considered."""

    command: str  # "apply" | "rollback"
    target: str
    dry_run: bool
    migrations: list[MigrationOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        totals = {str(action): 0 for action in Action}
        for outcome in self.migrations:
            totals[str(outcome.action)] += 1
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "target": self.target,
            "dry_run": self.dry_run,
            "migrations": [{**asdict(m), "action": str(m.action)} for m in self.migrations],
            "summary": self.counts(),
        }


@dataclass(frozen=True)
class StatusRow:
    """One migration as the directory and the journal see it."""

    number: int
    name: str
    status: str  # "pending" when the journal has no row, else the journal's status
    applied: bool  # the database holds the migration, entirely or partly
    statements: int | None  # in the .up.sql file; None when the file is missing or unparseable
    steps_done: int
    applied_at: str | None
    duration_ms: int | None
    last_error: str | None
    problem: str | None  # why apply would refuse, if it would


# -- public API --------------------------------------------------------------------------------


def apply_migrations(
    dsn: str,
    directory: Path | str,
    options: ApplyOptions | None = None,
    on_event: EventSink | None = None,
) -> ApplyResult:
    """Apply every pending migration of `directory` in order; raises before running anything
    when the directory and the journal disagree."""
    return _execute("apply", dsn, Path(directory), options or ApplyOptions(), on_event, _plan_apply)


def rollback_migrations(
    dsn: str,
    directory: Path | str,
    to: int,
    options: ApplyOptions | None = None,
    on_event: EventSink | None = None,
) -> ApplyResult:
    """Run the .down.sql of every applied migration numbered above `to`, newest first."""
    directory = Path(directory)
    available = len(read_migrations(directory))  # a bad --to is reported before connecting
    if not 0 <= to <= available:
        raise UsageError(f"--to {to} is outside {directory}'s migrations (0 to {available})")

    def plan(migrations: list[MigrationFile], rows: dict[int, JournalRow], directory: Path) -> Plan:
        return _plan_rollback(migrations, rows, to, directory)

    return _execute("rollback", dsn, directory, options or ApplyOptions(), on_event, plan)


def migration_status(dsn: str, directory: Path | str) -> list[StatusRow]:
    """Every migration of the directory with its journal state, plus journal rows whose files
    are gone; `problem` says why apply would refuse. Read-only."""
    directory = Path(directory)
    migrations = read_migrations(directory)
    with connect(dsn) as conn, _database_errors(describe_target(dsn)):
        rows = journal.read(conn)
    files = {m.number: m for m in migrations}
    out = [_status_row(m, rows.get(m.number)) for m in migrations]
    for number, row in sorted(rows.items()):
        on_disk = files.get(number)
        if on_disk is None or on_disk.name != row.name:
            out.append(_orphan_status_row(row, directory))
    return sorted(out, key=lambda r: (r.number, r.name))


def check_writable(in_recovery: bool, read_only: bool, target: str) -> None:
    """Refuse a replica in recovery and a database whose sessions are read-only."""
    if in_recovery:
        raise TargetError(
            f"{target} is a read-only replica (in recovery); apply migrations on the primary"
        )
    if read_only:
        raise TargetError(
            f"{target} only allows read-only transactions (default_transaction_read_only is on); "
            "connect to the primary, as a role that may write"
        )


def backoff_delay(attempt: int, base_s: float, max_s: float, rand: float | None = None) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential, capped, jittered."""
    jitter = random.random() if rand is None else rand
    return min(max_s, base_s * 2 ** (attempt - 1)) * (0.5 + 0.5 * jitter)


def render_result(result: ApplyResult, fmt: str = "terminal") -> str:
    """Plain text for a terminal, or JSON."""
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt != "terminal":
        raise UsageError(f"unknown format {fmt!r} (terminal or json)")
    title = f"prodready {result.command}{' (dry run)' if result.dry_run else ''} on {result.target}"
    lines = [title]
    width = max((len(m.name) for m in result.migrations), default=0)
    for m in result.migrations:
        lines.append(f"  {str(m.action).replace('_', ' '):<16}{m.name:<{width}}  {_detail(m)}")
    if not result.migrations:
        lines.append("  no migrations in the directory")
    done = [f"{n} {a.replace('_', ' ')}" for a, n in result.counts().items() if n]
    lines.append(f"{len(result.migrations)} migrations" + (f": {', '.join(done)}" if done else ""))
    return "\n".join(lines) + "\n"


def render_status(rows: list[StatusRow], fmt: str = "terminal") -> str:
    """`prodready migrations status` as plain text or JSON."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False) + "\n"
    if fmt != "terminal":
        raise UsageError(f"unknown format {fmt!r} (terminal or json)")
    if not rows:
        return "no migrations\n"
    width = max(len(r.name) for r in rows)
    lines = []
    for r in rows:
        parts = [f"{r.name:<{width}}", f"{r.status:<21}"]
        if r.applied_at:
            parts.append(f"applied {r.applied_at[:16].replace('T', ' ')} UTC")
        if r.status in ("running", "failed", "interrupted") and r.statements:
            parts.append(f"{r.steps_done} of {r.statements} statements done")
        if r.problem:
            parts.append(f"PROBLEM: {r.problem}")
        if r.last_error:
            parts.append(f"last error: {r.last_error}")
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


# -- one run: plan everything, then execute -------------------------------------------------------

Plan = tuple[list["_Step"], list[MigrationOutcome]]
Planner = Callable[[list[MigrationFile], dict[int, JournalRow], Path], Plan]


def _execute(
    command: str,
    dsn: str,
    directory: Path,
    options: ApplyOptions,
    on_event: EventSink | None,
    planner: Planner,
) -> ApplyResult:
    """Read the directory, plan against the journal (raising before any change), then run."""
    _check_options(options)
    migrations = read_migrations(directory)
    target = describe_target(dsn)
    newest_first = command == "rollback"
    if options.dry_run:
        rows = _read_journal_read_only(dsn, options, target)
        steps, outcomes = planner(migrations, rows, directory)
        outcomes += [_would(step) for step in steps]
        return ApplyResult(command, target, True, _ordered(outcomes, newest_first))
    with _locked_session(dsn, options, target) as conn, _database_errors(target):
        rows = journal.read(conn)
        steps, outcomes = planner(migrations, rows, directory)
        if steps:
            journal.ensure(conn)  # created by the first real apply, never by a dry run
        runner = _Runner(conn, options, on_event)
        outcomes += [runner.run(step) for step in steps]
    return ApplyResult(command, target, False, _ordered(outcomes, newest_first))


def _ordered(outcomes: list[MigrationOutcome], newest_first: bool) -> list[MigrationOutcome]:
    return sorted(outcomes, key=lambda o: -o.number if newest_first else o.number)


# -- planning: everything is checked before anything runs ----------------------------------------


@dataclass(frozen=True)
class _Statement:
    text: str
    node: ast.Node | None


@dataclass(frozen=True)
class _Step:
    """One migration file to run, from statement `start` on."""

    migration: MigrationFile
    direction: str  # "up" | "down"
    statements: tuple[_Statement, ...]
    start: int = 0
    resuming: bool = False  # an earlier run of this file started and did not finish

    @property
    def name(self) -> str:
        return self.migration.name

    @property
    def transactional(self) -> bool:
        m = self.migration
        return m.up_transactional if self.direction == "up" else m.down_transactional


def _plan_apply(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], directory: Path
) -> Plan:
    """The migrations to apply (from where an interrupted run stopped), and those to skip."""
    _check_against_journal(migrations, rows, directory)
    latest = max((n for n, r in rows.items() if r.has_effects), default=0)
    steps: list[_Step] = []
    skipped: list[MigrationOutcome] = []
    for m in migrations:
        row = rows.get(m.number)
        if row is not None and row.down_unfinished and not m.down_transactional:
            raise MigrationError(
                f"{m.name}: its rollback stopped after {row.steps_done} statement(s) "
                f"({row.status}); finish it first with rollback --to {m.number - 1}"
            )
        if row is not None and (row.status == Status.APPLIED or row.down_unfinished):
            skipped.append(_skip(m, m.up_transactional, "already applied"))
            continue
        if m.number < latest and not (row is not None and row.has_effects):
            raise UsageError(
                f"{m.name} is not applied but the later {rows[latest].name} is; "
                "migrations apply in order: roll back to before it first"
            )
        if m.review_required:
            raise UsageError(
                f"{m.name} needs review: read {m.up_path.name}, then delete its "
                "`-- prodready:review-required` line"
            )
        unfinished = row is not None and row.status in journal.UP_UNFINISHED
        resume = unfinished and not m.up_transactional
        start = row.steps_done if resume and row is not None else 0
        steps.append(_Step(m, "up", _statements(m, "up"), start, resume))
    return steps, skipped


def _plan_rollback(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], to: int, directory: Path
) -> Plan:
    """The down files to run, newest first, and the migrations above `to` with nothing to undo."""
    _check_against_journal(migrations, rows, directory)
    steps: list[_Step] = []
    skipped: list[MigrationOutcome] = []
    for m in reversed(migrations[to:]):
        row = rows.get(m.number)
        if row is None or not row.has_effects:
            skipped.append(_skip(m, m.down_transactional, "not applied"))
            continue
        # a partly applied up gets its whole down file: generated downs use IF EXISTS
        resume = row.down_unfinished and not m.down_transactional
        start = row.steps_done if resume else 0
        steps.append(_Step(m, "down", _statements(m, "down"), start, resume))
    return steps, skipped


def _check_against_journal(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], directory: Path
) -> None:
    """Refuse a directory whose files no longer match what the database holds."""
    files = {m.number: m for m in migrations}
    for number, row in sorted(rows.items()):
        if not row.has_effects:
            continue
        on_disk = files.get(number)
        if on_disk is None or on_disk.name != row.name:
            instead = f" (its number is now {on_disk.name})" if on_disk else ""
            raise UsageError(
                f"the journal has {row.name} {_held(row)}, but its files are not in "
                f"{directory}{instead}; restore them"
            )
        if on_disk.checksum != row.checksum:
            raise UsageError(
                f"{row.name} was edited after it was {_held(row)} (checksum "
                f"{row.checksum[:12]} in the journal, {on_disk.checksum[:12]} on disk); "
                "restore it or add a new migration"
            )


def _held(row: JournalRow) -> str:
    """How much of a migration the database holds, for messages."""
    if row.status in journal.UP_UNFINISHED:
        return f"partly applied ({row.status}, {row.steps_done} statement(s) done)"
    if row.down_unfinished:
        return f"applied (its rollback {row.status.replace('_', ' ')})"
    return "applied"


_TRANSACTION_CONTROL = frozenset(
    {
        enums.TransactionStmtKind.TRANS_STMT_BEGIN,
        enums.TransactionStmtKind.TRANS_STMT_START,
        enums.TransactionStmtKind.TRANS_STMT_COMMIT,
        enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
        enums.TransactionStmtKind.TRANS_STMT_PREPARE,
        enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
        enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
    }
)


def _statements(m: MigrationFile, direction: str) -> tuple[_Statement, ...]:
    """A file's statements, parsed; SQL that cannot run as the file says is a usage error."""
    up = direction == "up"
    path, text = (m.up_path, m.up_sql) if up else (m.down_path, m.down_sql)
    transactional = m.up_transactional if up else m.down_transactional
    try:
        pieces = split_statements(text)
        statements = tuple(_Statement(p, parse_sql(p)[0].stmt) for p in pieces)
    except ParseError as exc:
        raise UsageError(f"{path.name}: the SQL does not parse ({exc})") from None
    for number, statement in enumerate(statements, start=1):
        node = statement.node
        if isinstance(node, ast.TransactionStmt) and node.kind in _TRANSACTION_CONTROL:
            raise UsageError(
                f"{path.name}: statement {number} controls the transaction itself; "
                "remove it (prodready runs each migration in its own transaction)"
            )
        label = _needs_autocommit(node)
        if transactional and label:
            raise UsageError(
                f"{path.name}: statement {number} ({label}) cannot run inside a transaction; "
                "add the line `-- prodready:transactional=false` to the file's header"
            )
    return statements


def _needs_autocommit(node: ast.Node | None) -> str | None:
    """The kind of statement PostgreSQL refuses inside a transaction block, if it is one."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and any(
        isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ()
    ):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.AlterSystemStmt):
        return "ALTER SYSTEM"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.CreatedbStmt | ast.DropdbStmt):
        return "CREATE/DROP DATABASE"
    return None


def _skip(m: MigrationFile, transactional: bool, note: str) -> MigrationOutcome:
    return MigrationOutcome(m.number, m.name, Action.SKIPPED, transactional, note=note)


def _would(step: _Step) -> MigrationOutcome:
    action = Action.WOULD_APPLY if step.direction == "up" else Action.WOULD_ROLL_BACK
    return MigrationOutcome(
        step.migration.number,
        step.name,
        action,
        step.transactional,
        statements=len(step.statements) - step.start,
        resumed_from=step.start,
    )


# -- the session --------------------------------------------------------------------------------


def _check_options(options: ApplyOptions) -> None:
    if options.lock_timeout_ms <= 0:
        raise UsageError("the lock timeout must be positive: without one, DDL can block the app")
    if options.statement_timeout_ms < 0 or options.retries < 0:
        raise UsageError("statement timeout and retries cannot be negative")
    if options.backoff_base_s < 0 or options.backoff_max_s < 0:
        raise UsageError("backoff times cannot be negative")


def _limits(options: ApplyOptions) -> SessionLimits:
    return SessionLimits(
        statement_timeout_ms=options.statement_timeout_ms, lock_timeout_ms=options.lock_timeout_ms
    )


def _read_journal_read_only(dsn: str, options: ApplyOptions, target: str) -> dict[int, JournalRow]:
    """A dry run's view of the journal, from a read-only session that changes nothing."""
    with connect(dsn, limits=_limits(options)) as conn, _database_errors(target):
        return journal.read(conn)


@contextmanager
def _locked_session(dsn: str, options: ApplyOptions, target: str) -> Iterator[psycopg.Connection]:
    """A writable session on a primary, holding prodready's advisory lock until it ends."""
    conn = connect(dsn, read_only=False, limits=_limits(options))
    try:
        with _database_errors(target):
            row = conn.execute(journal.load_sql("session")).fetchone()
            assert row is not None
            check_writable(bool(row[0]), bool(row[1]), target)
            _take_lock(conn, target)
        yield conn
    finally:
        conn.close()  # ends the session, which releases the advisory lock


@contextmanager
def _database_errors(target: str) -> Iterator[None]:
    """A database error outside any migration (the journal, the lock) as one clean line."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise TargetError(f"{target}: {_first_line(exc)}") from None
    except psycopg.Error as exc:
        if exc.sqlstate is None:  # no server reply: the connection itself failed
            raise TargetError(f"{target}: lost the connection ({_first_line(exc)})") from None
        raise MigrationError(f"{target}: {_first_line(exc)}") from None


def _take_lock(conn: psycopg.Connection, target: str) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4)", LOCK_KEY).fetchone()
    if row and row[0]:
        return
    holder = conn.execute(
        journal.load_sql("lock_holder"),
        {"key1": LOCK_KEY[0], "key2": LOCK_KEY[1]},
    ).fetchone()
    pid = holder[0] if holder else "unknown"
    raise MigrationError(
        f"another prodready apply/rollback is running on {target} (pid {pid}); "
        "wait for it to finish"
    )


# -- running ------------------------------------------------------------------------------------


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


class _Runner:
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
        self.limits = _limits(options)
        self.current = 0  # index of the statement running now
        self.done = 0  # statements of a non-transactional file that are done
        self.attempts = 1
        self.cleanup_problems: list[str] = []

    def run(self, step: _Step) -> MigrationOutcome:
        self.current, self.done, self.attempts = step.start, step.start, 1
        self.cleanup_problems = []
        self._reset_session()
        verb = "applying" if step.direction == "up" else "rolling back"
        resume = f", resuming at statement {step.start + 1}" if step.start else ""
        kind = "transactional" if step.transactional else "non-transactional"
        self._emit(f"{verb} {step.name} ({kind}, {_plural(len(step.statements))}{resume})")
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
        return MigrationOutcome(
            step.migration.number,
            step.name,
            action,
            step.transactional,
            statements=len(step.statements) - step.start,
            resumed_from=step.start,
            attempts=self.attempts,
            duration_ms=duration,
        )

    # -- the two ways to run a file --

    def _run_transaction(self, step: _Step, started: float) -> None:
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

    def _run_alone(self, step: _Step, started: float) -> None:
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

    def _execute_alone(self, step: _Step, statement: _Statement) -> None:
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

    def _pause(self, step: _Step, attempt: int, exc: psycopg.Error) -> None:
        delay = backoff_delay(attempt, self.options.backoff_base_s, self.options.backoff_max_s)
        reason = "deadlock" if isinstance(exc, psycopg.errors.DeadlockDetected) else "lock timeout"
        self._emit(
            f"{step.name}: {reason} at statement {self.current + 1} (attempt {attempt} of "
            f"{self.options.retries + 1}); retrying in {delay:.1f} s"
        )
        time.sleep(delay)

    def _lock_message(self, step: _Step, exc: _LocksExhausted) -> str:
        return (
            f"gave up at statement {self.current + 1} of {len(step.statements)} after "
            f"{exc.attempts} attempts to get its locks (lock_timeout "
            f"{self.options.lock_timeout_ms} ms each): {_first_line(exc.error)}; another "
            "session holds a conflicting lock (see pg_stat_activity), retry when it is done"
        )

    # -- CREATE INDEX CONCURRENTLY leftovers --

    def _already_done(self, statement: _Statement) -> bool:
        """On resume: did the statement in flight complete before the run stopped?"""
        build = _concurrent_build(statement.node)
        if build is not None and build.name is not None:
            return any(i.valid for i in self._indexes(build.table, build.name))
        dropped = _concurrent_drop(statement.node)
        if dropped:
            return not any(self._relation_exists(name) for name in dropped)
        return False

    def _clean_up(self, step: _Step, build: _IndexBuild | None, before: set[int] | None) -> None:
        """After a concurrent build finally failed: drop what it left, never raising a database
        error, so the build's own error is the one reported."""
        if build is None or self.conn.closed or self.conn.broken:
            return
        try:
            self._drop_invalid(step, build, before, patient=True)
        except psycopg.Error as exc:
            self.cleanup_problems.append(
                f"could not look for an invalid index ({_first_line(exc)})"
            )

    def _drop_invalid(
        self, step: _Step, build: _IndexBuild, before: set[int] | None, *, patient: bool
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
                    return _first_line(exc)
            except psycopg.Error as exc:
                return _first_line(exc)
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
        self, step: _Step, status: Status, steps_done: int, duration: int | None = None
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
        )

    def _record_stop(self, step: _Step, status: Status, error: str) -> bool:
        """Journal a failure or an interruption in its own transaction; False if it could not.

        If the migration's own transaction had already committed (Ctrl-C right after COMMIT),
        the row says so and is left alone.
        """
        if self.conn.closed or self.conn.broken:
            return False
        m = step.migration
        done = 0 if step.transactional else self.done
        where = f"at statement {self.current + 1} of {len(step.statements)}"
        try:
            current = journal.read(self.conn).get(m.number)
            if current is not None and current.status == _finished(step):
                return True  # only this run can have finished it: finished rows are not rerun
            journal.record(
                self.conn,
                number=m.number,
                name=m.name,
                checksum=m.checksum,
                status=status,
                steps_done=done,
                last_error=f"{error} ({where})"[:2000],
            )
        except psycopg.Error:
            return False
        return True

    def _failure(self, step: _Step, exc: psycopg.Error) -> Exception:
        """The error to raise for a failed statement, after journaling it."""
        line = _first_line(exc)
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

    def _state(self, step: _Step, journaled: bool = True) -> str:
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

    def _announce(self, step: _Step, index: int) -> None:
        self.current = index
        preview = " ".join(step.statements[index].text.split())
        if len(preview) > 80:
            preview = preview[:77] + "..."
        self._emit(f"{step.name} statement {index + 1}/{len(step.statements)}: {preview}")

    def _emit(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)


# -- small helpers ------------------------------------------------------------------------------


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


def _running(step: _Step) -> Status:
    return Status.RUNNING if step.direction == "up" else Status.ROLLING_BACK


def _finished(step: _Step) -> Status:
    return Status.APPLIED if step.direction == "up" else Status.ROLLED_BACK


def _stopped(step: _Step, *, interrupted: bool) -> Status:
    if step.direction == "up":
        return Status.INTERRUPTED if interrupted else Status.FAILED
    return Status.ROLLBACK_INTERRUPTED if interrupted else Status.ROLLBACK_FAILED


def _status_row(m: MigrationFile, row: JournalRow | None) -> StatusRow:
    applied = row is not None and row.has_effects
    problem = None
    if row is not None and applied and row.name != m.name:
        problem = f"the journal's {row.name} is applied under this number"
    elif row is not None and applied and row.checksum != m.checksum:
        problem = "edited after it was applied: restore it or add a new migration"
    elif m.review_required and not applied:
        problem = "needs review: delete the `-- prodready:review-required` line once read"
    try:
        statements: int | None = len(split_statements(m.up_sql))
    except ParseError:
        statements, problem = None, problem or "the .up.sql file does not parse"
    return StatusRow(
        number=m.number,
        name=m.name,
        status=str(row.status) if row else "pending",
        applied=applied,
        statements=statements,
        steps_done=row.steps_done if row else 0,
        applied_at=_utc(row.applied_at) if row else None,
        duration_ms=row.duration_ms if row else None,
        last_error=row.last_error if row else None,
        problem=problem,
    )


def _orphan_status_row(row: JournalRow, directory: Path) -> StatusRow:
    return StatusRow(
        number=row.id,
        name=row.name,
        status=str(row.status),
        applied=row.has_effects,
        statements=None,
        steps_done=row.steps_done,
        applied_at=_utc(row.applied_at),
        duration_ms=row.duration_ms,
        last_error=row.last_error,
        problem=f"its files are not in {directory}" if row.has_effects else None,
    )


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _detail(m: MigrationOutcome) -> str:
    if m.action == Action.SKIPPED:
        return m.note or ""
    parts = [_plural(m.statements)]
    if m.resumed_from:
        parts.append(f"resumed at statement {m.resumed_from + 1}")
    if m.action in (Action.APPLIED, Action.ROLLED_BACK):
        parts.append(f"{m.attempts} attempt{'s' if m.attempts != 1 else ''}")
        parts.append(f"{m.duration_ms} ms")
    if not m.transactional:
        parts.append("non-transactional")
    return ", ".join(parts)


def _plural(n: int) -> str:
    return f"{n} statement{'s' if n != 1 else ''}"


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _first_line(exc: BaseException) -> str:
    """PostgreSQL's primary message (one line), else the exception's first line."""
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or str(exc)
    return " ".join((text.strip().splitlines() or [""])[0].split())
