"""The demo's second half: fix → lint → measure → apply → measure again → re-audit.

Each function is one step of `prodready demo` and calls the same code as the matching
command (`fix`, `lint-migrations`, `verify --save`, `apply`, `verify --baseline`), so the
demo shows exactly what a user gets on their own database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prodready.migrate.apply import ApplyOptions, ApplyResult, apply_migrations
from prodready.migrate.generate import FixPlan, plan_fixes
from prodready.migrate.lint import LintOptions, LintResult, lint_paths
from prodready.migrate.model import write_migrations
from prodready.report.plan import Report
from prodready.verify import (
    Baseline,
    Comparison,
    VerifyOptions,
    capture_baseline,
    compare_to_baseline,
    save_baseline,
)
from prodready.verify.render import render_markdown as render_verify_markdown
from prodready.verify.render import weighted_line

MIGRATIONS_DIR = "migrations"
BASELINE_FILE = "baseline.json"
VERIFY_FILE = "VERIFY.md"
RESULTS_FILE = "RESULTS.md"
# enough runs for a stable median on 2 cores while keeping the demo near a minute
RUNS, WARMUP = 7, 2


@dataclass
class LoopResult:
    """What the fix loop did, for the summary and RESULTS.md."""

    plan: FixPlan
    lint: LintResult
    applied: ApplyResult
    comparison: Comparison
    before: Report
    after: Report


def write_fixes(report: Report, out_dir: Path) -> tuple[FixPlan, Path]:
    """`prodready fix`: the safe fixes (no review-required ones) as numbered migrations."""
    plan = plan_fixes(report.to_json())
    directory = out_dir / MIGRATIONS_DIR
    write_migrations(directory, plan.migrations)
    return plan, directory


def lint(directory: Path, dsn: str) -> LintResult:
    return lint_paths([directory], dsn, LintOptions())


def measure(dsn: str, workload_file: Path, out_dir: Path) -> Baseline:
    """`prodready verify --save`: each API query as its role, writes rolled back."""
    options = VerifyOptions(runs=RUNS, warmup=WARMUP, allow_writes=True)
    baseline = capture_baseline(dsn, [str(workload_file)], options)
    save_baseline(baseline, out_dir / BASELINE_FILE)
    return baseline


def apply(dsn: str, directory: Path) -> ApplyResult:
    return apply_migrations(dsn, directory, ApplyOptions())


def measure_again(dsn: str, baseline: Baseline, out_dir: Path) -> Comparison:
    comparison = compare_to_baseline(dsn, baseline, VerifyOptions(allow_writes=True))
    (out_dir / VERIFY_FILE).write_text(render_verify_markdown(comparison), encoding="utf-8")
    return comparison


def write_results(loop: LoopResult, out_dir: Path) -> Path:
    """RESULTS.md: the score before and after, what was applied, and the measured speedups."""
    path = out_dir / RESULTS_FILE
    path.write_text(render_results(loop), encoding="utf-8")
    return path


def render_results(loop: LoopResult) -> str:
    before, after = loop.before.score, loop.after.score
    lines = [
        "# prodready demo: before and after",
        "",
        f"Readiness score **{before.overall:.1f} → {after.overall:.1f}** / 10 "
        f"({len(loop.before.findings)} → {len(loop.after.findings)} findings).",
        "",
        "| category | before | after |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {before.categories[name]:.1f} | {after.categories.get(name, 0):.1f} |"
            for name in before.categories
        ),
        "",
        f"## Applied: {len(loop.plan.migrations)} migrations "
        f"({loop.applied.counts()['applied']} applied), "
        f"lint: {loop.lint.errors} errors, {loop.lint.warnings} warnings",
        "",
        *(f"- `{m.name}`" for m in loop.plan.migrations),
        "",
        f"Left for a person ({len(loop.plan.skipped)}): "
        + "; ".join(f"{s.source} {s.object} ({s.reason})" for s in loop.plan.skipped[:12]),
        "",
        "## Measured (prodready verify)",
        "",
        "Database time per minute of traffic (server-side planning + execution):",
        f"**{weighted_line(loop.comparison)}**.",
        "",
        "| API query | role | calls/min | before p50 ms | after p50 ms | speedup |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in loop.comparison.statements:
        before_ms = f"{row.before.p50_ms:.2f}" if row.before else "-"
        after_ms = f"{row.after.p50_ms:.2f}" if row.after else "-"
        speedup = f"{row.speedup:.1f}x" if row.speedup else (row.reason or str(row.status))
        lines.append(
            f"| {row.statement.label} | {row.statement.role or 'backend'} | "
            f"{row.statement.calls:g} | {before_ms} | {after_ms} | {speedup} |"
        )
    lines += ["", "Undo everything with `prodready rollback migrations --to 0 --db ...`.", ""]
    return "\n".join(lines)
