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

from pathlib import Path

from prodready.errors import UsageError
from prodready.migrate import journal
from prodready.migrate._plan import Plan, Planner, plan_apply, plan_rollback, would
from prodready.migrate._render import render_result, render_status
from prodready.migrate._results import Action, ApplyResult, MigrationOutcome, StatusRow
from prodready.migrate._runner import EventSink, Runner, backoff_delay
from prodready.migrate._session import (
    LOCK_KEY,
    ApplyOptions,
    check_options,
    check_writable,
    database_errors,
    locked_session,
    read_journal_read_only,
)
from prodready.migrate._status import status_rows
from prodready.migrate.journal import JournalRow
from prodready.migrate.model import MigrationFile, read_migrations
from prodready.pg.connection import connect, describe_target

__all__ = [
    "LOCK_KEY",
    "Action",
    "ApplyOptions",
    "ApplyResult",
    "EventSink",
    "MigrationOutcome",
    "StatusRow",
    "apply_migrations",
    "backoff_delay",
    "check_writable",
    "migration_status",
    "render_result",
    "render_status",
    "rollback_migrations",
]


# -- public API --------------------------------------------------------------------------------


def apply_migrations(
    dsn: str,
    directory: Path | str,
    options: ApplyOptions | None = None,
    on_event: EventSink | None = None,
) -> ApplyResult:
    """Apply every pending migration of `directory` in order; raises before running anything
    when the directory and the journal disagree."""
    return _execute("apply", dsn, Path(directory), options or ApplyOptions(), on_event, plan_apply)


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
        return plan_rollback(migrations, rows, to, directory)

    return _execute("rollback", dsn, directory, options or ApplyOptions(), on_event, plan)


def migration_status(dsn: str, directory: Path | str) -> list[StatusRow]:
    """Every migration of the directory with its journal state, plus journal rows whose files
    are gone; `problem` says why apply would refuse. Read-only."""
    directory = Path(directory)
    migrations = read_migrations(directory)
    with connect(dsn) as conn, database_errors(describe_target(dsn)):
        rows = journal.read(conn)
    return status_rows(migrations, rows, directory)


# -- one run: plan everything, then execute -------------------------------------------------------


def _execute(
    command: str,
    dsn: str,
    directory: Path,
    options: ApplyOptions,
    on_event: EventSink | None,
    planner: Planner,
) -> ApplyResult:
    """Read the directory, plan against the journal (raising before any change), then run."""
    check_options(options)
    migrations = read_migrations(directory)
    target = describe_target(dsn)
    newest_first = command == "rollback"
    if options.dry_run:
        rows = read_journal_read_only(dsn, options, target)
        steps, outcomes = planner(migrations, rows, directory)
        outcomes += [would(step) for step in steps]
        return ApplyResult(command, target, True, _ordered(outcomes, newest_first))
    with locked_session(dsn, options, target) as conn, database_errors(target):
        rows = journal.read(conn)
        steps, outcomes = planner(migrations, rows, directory)
        if steps:
            journal.ensure(conn)  # created by the first real apply, never by a dry run
        runner = Runner(conn, options, on_event)
        outcomes += [runner.run(step) for step in steps]
    return ApplyResult(command, target, False, _ordered(outcomes, newest_first))


def _ordered(outcomes: list[MigrationOutcome], newest_first: bool) -> list[MigrationOutcome]:
    return sorted(outcomes, key=lambda o: -o.number if newest_first else o.number)
