"""What apply, rollback and status report: one outcome per migration, one row per status line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


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
