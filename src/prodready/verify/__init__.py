"""Verify: measure the workload for real, save a baseline, replay it and compare.

baseline = capture_baseline(dsn, ["pg_stat_statements"], VerifyOptions(runs=10))
save_baseline(baseline, "baseline.json")
... apply the migrations ...
comparison = compare_to_baseline(dsn, load_baseline("baseline.json"),
                                 VerifyOptions(expect_speedup=2))
print(render_terminal(comparison)); comparison.passed
"""

from prodready.verify.baseline import load_baseline, save_baseline
from prodready.verify.capture import (
    Prepared,
    capture_baseline,
    capture_statements,
    prepare_statements,
)
from prodready.verify.compare import (
    Comparison,
    StatementComparison,
    compare,
    compare_to_baseline,
)
from prodready.verify.model import (
    Baseline,
    Captured,
    Measurement,
    Statement,
    Unrunnable,
    VerifyOptions,
)
from prodready.verify.render import (
    print_baseline_terminal,
    print_terminal,
    render_baseline_markdown,
    render_baseline_terminal,
    render_json,
    render_markdown,
    render_terminal,
)

__all__ = [
    "Baseline",
    "Captured",
    "Comparison",
    "Measurement",
    "Prepared",
    "Statement",
    "StatementComparison",
    "Unrunnable",
    "VerifyOptions",
    "capture_baseline",
    "capture_statements",
    "compare",
    "compare_to_baseline",
    "load_baseline",
    "prepare_statements",
    "print_baseline_terminal",
    "print_terminal",
    "render_baseline_markdown",
    "render_baseline_terminal",
    "render_json",
    "render_markdown",
    "render_terminal",
    "save_baseline",
]
