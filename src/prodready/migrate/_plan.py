"""Plan a run before anything runs: check the directory against the journal, parse each file
and refuse statements that cannot run as written, pick the steps to run and those to skip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from prodready.errors import MigrationError, UsageError
from prodready.migrate import journal
from prodready.migrate._results import Action, MigrationOutcome
from prodready.migrate.journal import JournalRow, Status
from prodready.migrate.model import MigrationFile
from prodready.sqlgen import split_statements


@dataclass(frozen=True)
class Statement:
    text: str
    node: ast.Node | None


@dataclass(frozen=True)
class Step:
    """One migration file to run, from statement `start` on."""

    migration: MigrationFile
    direction: str  # "up" | "down"
    statements: tuple[Statement, ...]
    start: int = 0
    resuming: bool = False  # an earlier run of this file started and did not finish

    @property
    def name(self) -> str:
        return self.migration.name

    @property
    def transactional(self) -> bool:
        m = self.migration
        return m.up_transactional if self.direction == "up" else m.down_transactional

    def outcome(
        self, action: Action, *, attempts: int = 0, duration_ms: int = 0
    ) -> MigrationOutcome:
        """What running (or, in a dry run, planning) this step did, for the result."""
        return MigrationOutcome(
            self.migration.number,
            self.name,
            action,
            self.transactional,
            statements=len(self.statements) - self.start,
            resumed_from=self.start,
            attempts=attempts,
            duration_ms=duration_ms,
        )


Plan = tuple[list[Step], list[MigrationOutcome]]
Planner = Callable[[list[MigrationFile], dict[int, JournalRow], Path], Plan]


def plan_apply(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], directory: Path
) -> Plan:
    """The migrations to apply (from where an interrupted run stopped), and those to skip."""
    _check_against_journal(migrations, rows, directory)
    latest = max((n for n, r in rows.items() if r.has_effects), default=0)
    steps: list[Step] = []
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
        steps.append(Step(m, "up", _statements(m, "up"), start, resume))
    return steps, skipped


def plan_rollback(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], to: int, directory: Path
) -> Plan:
    """The down files to run, newest first, and the migrations above `to` with nothing to undo."""
    _check_against_journal(migrations, rows, directory)
    steps: list[Step] = []
    skipped: list[MigrationOutcome] = []
    for m in reversed(migrations[to:]):
        row = rows.get(m.number)
        if row is None or not row.has_effects:
            skipped.append(_skip(m, m.down_transactional, "not applied"))
            continue
        # a partly applied up gets its whole down file: generated downs use IF EXISTS
        resume = row.down_unfinished and not m.down_transactional
        start = row.steps_done if resume else 0
        steps.append(Step(m, "down", _statements(m, "down"), start, resume))
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


def _statements(m: MigrationFile, direction: str) -> tuple[Statement, ...]:
    """A file's statements, parsed; SQL that cannot run as the file says is a usage error."""
    up = direction == "up"
    path, text = (m.up_path, m.up_sql) if up else (m.down_path, m.down_sql)
    transactional = m.up_transactional if up else m.down_transactional
    try:
        pieces = split_statements(text)
        statements = tuple(Statement(p, parse_sql(p)[0].stmt) for p in pieces)
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


def would(step: Step) -> MigrationOutcome:
    return step.outcome(Action.WOULD_APPLY if step.direction == "up" else Action.WOULD_ROLL_BACK)
