"""Time `prodready demo` end to end, step by step.

    .venv/bin/python bench/demo_timing.py [--runs N] [--scale F] [--calls N]

Runs the demo pipeline (its own throwaway cluster each time) and prints a table of the
seconds each step took, one column per run, plus the budget check: the whole demo must
finish in under 120 s on a 2-core machine, and the target is 60 s.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from prodready.demo.pipeline import run_demo
from prodready.demo.workload import DEFAULT_CALLS

BUDGET_S = 120.0
TARGET_S = 60.0
STEPS = ("cluster", "schema", "data", "workload", "audit", "render", "stop")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console()
    runs: list[dict[str, float]] = []
    for number in range(1, args.runs + 1):
        console.print(f"[bold]run {number}/{args.runs}[/bold]")
        runs.append(_one_run(args.scale, args.calls, verbose=args.verbose))
    console.print(
        f"prodready demo, scale {args.scale}, {args.calls} API calls, {os.cpu_count()} CPUs"
    )
    console.print(_table(runs))
    worst = max(r["total"] for r in runs)
    verdict = (
        "within target"
        if worst < TARGET_S
        else "within budget"
        if worst < BUDGET_S
        else "OVER BUDGET"
    )
    console.print(
        f"slowest run {worst:.1f}s: {verdict} (target {TARGET_S:.0f}s, budget {BUDGET_S:.0f}s)"
    )
    return 0 if worst < BUDGET_S else 1


def _one_run(scale: float, calls: int, *, verbose: bool) -> dict[str, float]:
    quiet = Console(file=sys.stderr if verbose else io.StringIO())
    with tempfile.TemporaryDirectory(prefix="prodready-demo-bench-") as out:
        started = time.perf_counter()
        result = run_demo(Path(out), False, quiet, scale=scale, calls=calls)
        total = time.perf_counter() - started
    timings = dict(result.timings)
    timings["total"] = total
    timings["findings"] = len(result.report.findings)
    timings["score"] = result.report.score.overall
    return timings


def _table(runs: list[dict[str, float]]) -> Table:
    table = Table()
    table.add_column("step")
    for number in range(1, len(runs) + 1):
        table.add_column(f"run {number} (s)", justify="right")
    for step in (*STEPS, "total"):
        table.add_row(step, *(f"{r.get(step, 0.0):.2f}" for r in runs))
    table.add_row("findings", *(f"{r['findings']:.0f}" for r in runs))
    table.add_row("score", *(f"{r['score']:.1f}" for r in runs))
    return table


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--verbose", action="store_true", help="show the demo's own progress")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
