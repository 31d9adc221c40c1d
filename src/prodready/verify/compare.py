"""Replay a baseline and compare: per statement p50/p95 before and after, plans, the verdict.

The replay runs the baseline's own SQL (the values bound at capture), as the same roles
with the same settings, the same number of times. Per statement, speedup is before p50 /
after p50 (the median resists a noisy neighbour); the workload's weighted speedup is
sum(calls x mean) before / after over the statements measured both times, since a mean
is what adds up to database time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from prodready.verify.model import Baseline, Captured, Measurement, Statement, VerifyOptions
from prodready.verify.runner import Runner, reads_first

Progress = Callable[[str], None]
Outcome = Literal["compared", "failed", "skipped"]


@dataclass(frozen=True)
class StatementComparison:
    """One statement before and after; `status` is compared, failed (now) or skipped."""

    statement: Statement
    status: Outcome
    before: Measurement | None
    after: Measurement | None = None
    reason: str | None = None
    regression: bool = False

    @property
    def speedup(self) -> float | None:
        if self.before is None or self.after is None or self.after.p50_ms <= 0:
            return None
        return self.before.p50_ms / self.after.p50_ms

    @property
    def plan_changed(self) -> bool | None:
        if self.before is None or self.after is None:
            return None
        return self.before.plan != self.after.plan

    @property
    def indexes_added(self) -> list[str]:
        """Indexes the plan reads now and did not before."""
        if self.before is None or self.after is None:
            return []
        return [i for i in self.after.indexes if i not in self.before.indexes]

    @property
    def indexes_removed(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        return [i for i in self.before.indexes if i not in self.after.indexes]

    def to_json(self) -> dict[str, Any]:
        s = self.statement
        speedup = self.speedup
        return {
            "id": s.id,
            "name": s.name,
            "query": s.query,
            "sql": s.sql,
            "role": s.role,
            "calls": s.calls,
            "status": self.status,
            "reason": self.reason,
            "before": self.before.summary() if self.before else None,
            "after": self.after.summary() if self.after else None,
            "speedup": None if speedup is None else round(speedup, 3),
            "plan_changed": self.plan_changed,
            "indexes_added": self.indexes_added,
            "indexes_removed": self.indexes_removed,
            "regression": self.regression,
        }


@dataclass(frozen=True)
class Comparison:
    """The replay of a baseline: every statement's outcome and the workload's verdict."""

    baseline: Baseline
    statements: tuple[StatementComparison, ...]
    runs: int
    warmup: int
    expect_speedup: float | None = None
    fail_on_regression: bool = False
    created_at: str = ""
    notes: tuple[str, ...] = ()

    @property
    def compared(self) -> list[StatementComparison]:
        return [c for c in self.statements if c.status == "compared"]

    @property
    def failures(self) -> list[StatementComparison]:
        return [c for c in self.statements if c.status == "failed"]

    @property
    def regressions(self) -> list[StatementComparison]:
        return [c for c in self.statements if c.regression]

    @property
    def weighted_before_ms(self) -> float:
        return sum(c.statement.calls * c.before.mean_ms for c in self.compared if c.before)

    @property
    def weighted_after_ms(self) -> float:
        return sum(c.statement.calls * c.after.mean_ms for c in self.compared if c.after)

    @property
    def speedup(self) -> float | None:
        after = self.weighted_after_ms
        return self.weighted_before_ms / after if after > 0 else None

    @property
    def reasons(self) -> list[str]:
        """Why the verdict is a failure (empty when it passes)."""
        found = []
        if not self.compared:
            found.append("no statement could be compared")
        if self.failures:
            found.append(f"{len(self.failures)} statement(s) that ran before fail now")
        speedup = self.speedup
        target = self.expect_speedup
        if target is not None and self.compared and (speedup is None or speedup < target):
            shown = "unknown" if speedup is None else f"{speedup:.2f}x"
            found.append(f"weighted speedup {shown} is below the {target:g}x target")
        if self.fail_on_regression and self.regressions:
            found.append(f"{len(self.regressions)} statement(s) got slower")
        return found

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        speedup = self.speedup
        return {
            "tool": "prodready",
            "kind": "verify-comparison",
            "created_at": self.created_at,
            "baseline": {
                "created_at": self.baseline.created_at,
                "database": self.baseline.database,
                "server_version": self.baseline.server_version,
            },
            "runs": self.runs,
            "warmup": self.warmup,
            "statements": [c.to_json() for c in self.statements],
            "weighted": {
                "before_ms": round(self.weighted_before_ms, 4),
                "after_ms": round(self.weighted_after_ms, 4),
                "speedup": None if speedup is None else round(speedup, 3),
                "statements": len(self.compared),
            },
            "expect_speedup": self.expect_speedup,
            "regressions": len(self.regressions),
            "failures": len(self.failures),
            "passed": self.passed,
            "reasons": self.reasons,
            "notes": list(self.notes),
        }


def compare_to_baseline(
    dsn: str,
    baseline: Baseline,
    options: VerifyOptions | None = None,
    *,
    progress: Progress | None = None,
) -> Comparison:
    """Replay the baseline's measured statements on `dsn` and compare them with it."""
    options = options or VerifyOptions()
    runs = options.runs or baseline.runs
    warmup = baseline.warmup if options.warmup is None else options.warmup
    replayed: dict[str, Captured] = {}
    statements = reads_first([c.statement for c in baseline.measured])
    with Runner(dsn, options) as runner:
        for number, statement in enumerate(statements, 1):
            if progress is not None:
                progress(f"replaying {number}/{len(statements)}: {statement.label}")
            replayed[statement.id] = runner.measure(statement, runs, warmup)
        database, _ = runner.target()
    notes = []
    if baseline.database and database != baseline.database:
        notes.append(
            f"the baseline was captured on database {baseline.database!r}, "
            f"the replay ran on {database!r}"
        )
    if runs != baseline.runs:
        notes.append(f"the baseline has {baseline.runs} runs per statement, the replay {runs}")
    result = compare(baseline, replayed, options, runs=runs, warmup=warmup)
    return replace(result, notes=tuple(notes))


def compare(
    baseline: Baseline,
    replayed: Mapping[str, Captured],
    options: VerifyOptions | None = None,
    *,
    runs: int | None = None,
    warmup: int | None = None,
) -> Comparison:
    """The comparison of a baseline with replayed measurements (keyed by statement id)."""
    options = options or VerifyOptions()
    rows = [
        _row(captured, replayed.get(captured.statement.id), options)
        for captured in baseline.statements
    ]
    return Comparison(
        baseline=baseline,
        statements=tuple(rows),
        runs=runs or baseline.runs,
        warmup=baseline.warmup if warmup is None else warmup,
        expect_speedup=options.expect_speedup,
        fail_on_regression=options.fail_on_regression,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _row(captured: Captured, after: Captured | None, options: VerifyOptions) -> StatementComparison:
    before = captured.measurement
    statement = captured.statement
    if before is None:
        why = captured.reason or captured.status
        return StatementComparison(
            statement, "skipped", None, reason=f"not measured in the baseline: {why}"
        )
    if after is None:
        return StatementComparison(statement, "skipped", before, reason="not replayed")
    if after.measurement is None:
        status: Outcome = "failed" if after.status == "failed" else "skipped"
        return StatementComparison(statement, status, before, reason=after.reason)
    return StatementComparison(
        statement,
        "compared",
        before,
        after.measurement,
        regression=is_regression(before, after.measurement, options),
    )


def is_regression(before: Measurement, after: Measurement, options: VerifyOptions) -> bool:
    """Slower beyond noise: p50 up by more than `noise_ratio` and by more than `noise_ms`."""
    grew = after.p50_ms - before.p50_ms
    return after.p50_ms > before.p50_ms * options.noise_ratio and grew > options.noise_ms
