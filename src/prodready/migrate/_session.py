"""The session a run works in: its options and timeouts, a writable primary, prodready's
advisory lock, and database errors outside any migration as one clean line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from prodready.errors import MigrationError, TargetError, UsageError
from prodready.migrate import journal
from prodready.migrate.journal import JournalRow
from prodready.pg.connection import SessionLimits, connect

# pg_try_advisory_lock(int4, int4) key: 'prod' and 'migr' in ASCII. Per database: two databases of
# one cluster can be migrated at once. pg_locks shows it as classid/objid with objsubid = 2.
LOCK_KEY = (0x70726F64, 0x6D696772)


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


def check_options(options: ApplyOptions) -> None:
    if options.lock_timeout_ms <= 0:
        raise UsageError("the lock timeout must be positive: without one, DDL can block the app")
    if options.statement_timeout_ms < 0 or options.retries < 0:
        raise UsageError("statement timeout and retries cannot be negative")
    if options.backoff_base_s < 0 or options.backoff_max_s < 0:
        raise UsageError("backoff times cannot be negative")


def session_limits(options: ApplyOptions) -> SessionLimits:
    return SessionLimits(
        statement_timeout_ms=options.statement_timeout_ms, lock_timeout_ms=options.lock_timeout_ms
    )


def read_journal_read_only(dsn: str, options: ApplyOptions, target: str) -> dict[int, JournalRow]:
    """A dry run's view of the journal, from a read-only session that changes nothing."""
    with connect(dsn, limits=session_limits(options)) as conn, database_errors(target):
        return journal.read(conn)


@contextmanager
def locked_session(dsn: str, options: ApplyOptions, target: str) -> Iterator[psycopg.Connection]:
    """A writable session on a primary, holding prodready's advisory lock until it ends."""
    conn = connect(dsn, read_only=False, limits=session_limits(options))
    try:
        with database_errors(target):
            row = conn.execute(journal.load_sql("session")).fetchone()
            assert row is not None
            check_writable(bool(row[0]), bool(row[1]), target)
            _take_lock(conn, target)
        yield conn
    finally:
        conn.close()  # ends the session, which releases the advisory lock


@contextmanager
def database_errors(target: str) -> Iterator[None]:
    """A database error outside any migration (the journal, the lock) as one clean line."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise TargetError(f"{target}: {first_line(exc)}") from None
    except psycopg.Error as exc:
        if exc.sqlstate is None:  # no server reply: the connection itself failed
            raise TargetError(f"{target}: lost the connection ({first_line(exc)})") from None
        raise MigrationError(f"{target}: {first_line(exc)}") from None


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


def first_line(exc: BaseException) -> str:
    """PostgreSQL's primary message (one line), else the exception's first line."""
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or str(exc)
    return " ".join((text.strip().splitlines() or [""])[0].split())
