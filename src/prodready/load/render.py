"""Load reports as a terminal summary, JSON (the contract) or Markdown. Formatting only."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from prodready.load.report import LoadReport
from prodready.load.result import Latency

FORMATS = ("terminal", "json", "md", "html")
COLUMNS = ("p50", "p90", "p95", "p99", "max")


def render_json(report: LoadReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def latency_cells(latency: Latency) -> list[str]:
    return [_ms(latency.percentile(c)) for c in COLUMNS]


def headline(report: LoadReport) -> str:
    """One line: offered vs achieved, requests, dropped, errors."""
    run = report.run
    return (
        f"offered {run.offered_rps:,.1f} req/s, achieved {run.achieved_rps:,.1f} req/s; "
        f"{run.requests:,} requests, {run.dropped:,} dropped, {run.errors:,} errors "
        f"({run.error_rate:.2%})"
    )


def _errors_line(report: LoadReport) -> str | None:
    by_status = report.run.errors_by_status
    if not by_status:
        return None
    parts = [f"{status} x {count:,}" for status, count in sorted(by_status.items())]
    return "errors by status: " + ", ".join(parts)


def verdict(report: LoadReport) -> str:
    run = report.run
    if run.interrupted:
        state = "INTERRUPTED (partial report)"
    elif not report.thresholds:
        state = "DONE (no thresholds)"
    else:
        failed = sum(not t.ok for t in report.thresholds)
        state = "PASS" if failed == 0 else f"FAIL ({failed} of {len(report.thresholds)} thresholds)"
    return state


def render_terminal(report: LoadReport, console: Console) -> None:
    run = report.run
    console.print(
        f"prodready load {run.target}: scenario {run.scenario}, engine {run.engine}, "
        f"{run.duration_s:g} s",
        markup=False,
    )
    console.print(headline(report), markup=False, soft_wrap=True)
    if run.client_limited:
        console.print(
            f"client limited: this machine could not send at the offered rate (send lag p99 "
            f"{_ms(run.send_lag_p99_ms)} ms); the figures include the client's own delay",
            style="yellow",
            markup=False,
        )
    table = Table("latency ms", *COLUMNS, "requests", "errors", box=None, pad_edge=False)
    table.add_row("all", *latency_cells(run.latency), f"{run.requests:,}", f"{run.errors:,}")
    if len(run.endpoints) > 1:
        for e in run.endpoints:
            table.add_row(e.name, *latency_cells(e.latency), f"{e.requests:,}", f"{e.errors:,}")
    console.print(table)
    if line := _errors_line(report):
        console.print(line, markup=False)
    for t in report.thresholds:
        mark = "[green]ok  [/green]" if t.ok else "[red]FAIL[/red]"
        value = "nothing measured" if t.value is None else f"{t.value:g}"
        console.print(f"  {mark} {_escape(t.expr)}  ({value})")
    if report.database is not None:
        for line in _database_lines(report):
            console.print(line, markup=False)
    for f in report.findings:
        if f.severity.label != "info":
            console.print(f"  [{f.severity.label}] {f.title}: {f.detail}", markup=False)
    console.print(verdict(report), markup=False, style="bold")


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _database_lines(report: LoadReport) -> list[str]:
    db = report.database
    assert db is not None
    hit = "-" if db.cache_hit_ratio is None else f"{db.cache_hit_ratio:.2%}"
    lines = [
        f"database {db.database}: up to {db.peak_connections} of {db.max_connections} "
        f"connections ({db.peak_active} active), cache hit {hit}, {db.commits:,} commits, "
        f"{db.deadlocks} deadlocks"
    ]
    if db.waits:
        waits = ", ".join(
            f"{k} x {v}" for k, v in sorted(db.waits.items(), key=lambda kv: -kv[1])[:5]
        )
        lines.append(f"  waits seen: {waits}")
    for s in db.statements[:3]:
        lines.append(f"  {s.share:.0%} of db time, {s.calls:,} calls: {s.query[:100]}")
    lines += [f"  limitation: {text}" for text in db.limitations]
    return lines


def render_markdown(report: LoadReport) -> str:
    run = report.run
    out = [
        f"# Load test: {run.target}",
        "",
        f"Scenario **{run.scenario}**, engine {run.engine}, {run.duration_s:g} s. "
        f"**{verdict(report)}**",
        "",
        headline(report) + ".",
        "",
    ]
    if run.client_limited:
        out += ["> The client was the limit: it could not send at the offered rate.", ""]
    out += ["| | " + " | ".join(COLUMNS) + " | requests | errors |", "|---" * 8 + "|"]
    out.append(
        f"| all | {' | '.join(latency_cells(run.latency))} | {run.requests} | {run.errors} |"
    )
    for e in run.endpoints:
        out.append(
            f"| {e.name} | {' | '.join(latency_cells(e.latency))} | {e.requests} | {e.errors} |"
        )
    if line := _errors_line(report):
        out += ["", line]
    if report.thresholds:
        out += ["", "| threshold | value | result |", "|---|---|---|"]
        for t in report.thresholds:
            value = "-" if t.value is None else f"{t.value:g}"
            out.append(f"| `{t.expr}` | {value} | {'ok' if t.ok else 'FAIL'} |")
    if report.database is not None:
        out += ["", "## Database under load", ""] + [
            f"- {line.strip()}" for line in _database_lines(report)
        ]
    if run.timeline:
        out += [
            "",
            "## Over time",
            "",
            "| s | requests | errors | p95 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        for p in run.timeline:
            out.append(
                f"| {p.t:g} | {p.requests} | {p.errors} | {_ms(p.p95_ms)} | {_ms(p.max_ms)} |"
            )
    if report.findings:
        out += ["", "## Findings", ""]
        out += [f"- **{f.severity.label}** {f.title}: {f.detail}" for f in report.findings]
    return "\n".join(out) + "\n"
