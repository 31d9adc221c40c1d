"""The rows of `prodready migrations status`: each migration as the directory and the journal
see it, with why apply would refuse it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pglast.parser import ParseError

from prodready.migrate._results import StatusRow
from prodready.migrate.journal import JournalRow
from prodready.migrate.model import MigrationFile
from prodready.sqlgen import split_statements


def status_rows(
    migrations: list[MigrationFile], rows: dict[int, JournalRow], directory: Path
) -> list[StatusRow]:
    """Every migration of the directory, plus journal rows whose files are gone, in order."""
    files = {m.number: m for m in migrations}
    out = [_status_row(m, rows.get(m.number)) for m in migrations]
    for number, row in sorted(rows.items()):
        on_disk = files.get(number)
        if on_disk is None or on_disk.name != row.name:
            out.append(_orphan_status_row(row, directory))
    return sorted(out, key=lambda r: (r.number, r.name))


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
