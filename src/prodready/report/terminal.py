"""The terminal report: score, blockers first, then one compact table per phase.

Every user-controlled string goes through `Text` (never rich markup) and `visible()`,
so an object name cannot inject markup, colours or terminal escape sequences.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from prodready.model import Finding
from prodready.report._text import (
    band,
    one_line,
    stats_age,
    target_name,
    timestamp,
    visible,
)
from prodready.report.plan import CRITICAL_CAP, Phase, Report, by_schema

WIDTH = 120
# A terminal is for reading: past this many rows of one check, a count per schema stands
# for the rest.
ROWS_PER_CHECK = 5
SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}

# 3-row block digits, so the overall score reads at a glance.
_BIG = {
    "0": ("█▀█", "█ █", "▀▀▀"),
    "1": ("▀█ ", " █ ", "▀▀▀"),
    "2": ("▀▀█", "█▀▀", "▀▀▀"),
    "3": ("▀▀█", " ▀█", "▀▀▀"),
    "4": ("█ █", "▀▀█", "  ▀"),
    "5": ("█▀▀", "▀▀█", "▀▀▀"),
    "6": ("█▀▀", "█▀█", "▀▀▀"),
    "7": ("▀▀█", "  █", "  ▀"),
    "8": ("█▀█", "█▀█", "▀▀▀"),
    "9": ("█▀█", "▀▀█", "▀▀▀"),
    ".": (" ", " ", "▀"),
}


def render(report: Report) -> str:
    """The report as plain text (no colour), 120 columns wide."""
    console = Console(
        file=io.StringIO(), width=WIDTH, color_system=None, force_terminal=False, emoji=False
    )
    print_report(report, console)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def print_report(report: Report, console: Console) -> None:
    """Print to `console`; the caller decides colour (the CLI passes a TTY console)."""
    for part in _parts(report, console.width):
        console.print(part, highlight=False)


def _parts(report: Report, width: int) -> Iterator[RenderableType]:
    yield _header(report)
    yield Text("")
    if not report.findings:
        yield Text(
            "✓ No findings: every check that ran passed. Nothing blocks production.",
            style="bold green",
        )
    else:
        yield _blockers(report.phases[0])
        columns = _column_widths(report, width)
        for phase in report.phases[1:]:
            yield _phase_table(phase, columns)
            yield Text("")
    yield from _advice(report)
    yield from _footer(report)


def _advice(report: Report) -> Iterator[RenderableType]:
    advisor = report.advisor
    if not advisor or not (advisor.get("indexes") or advisor.get("drops")):
        return
    cost = advisor.get("workload_cost", {})
    yield Text.assemble(
        ("Index advice: ", "bold"),
        f"{len(advisor.get('indexes', []))} new index(es), {len(advisor.get('drops', []))} "
        f"drop(s); estimated workload cost {cost.get('before', 0):,.0f} → "
        f"{cost.get('after', 0):,.0f}. Details: prodready advise.",
    )
    for phase in report.phases:
        for index in phase.advice[:ROWS_PER_CHECK]:
            yield Text.assemble(
                (f"  phase {phase.number}  ", "dim"), (one_line(index["definition"]), "green")
            )
    yield Text("")


# -- header: where, when, the score --


def _header(report: Report) -> Panel:
    db = report.target.get("database") or {}
    title = Text.assemble("prodready · ", (visible(target_name(report.target)), "bold"))
    facts = [
        f"PostgreSQL {db['server_version']}" if db.get("server_version") else None,
        stats_age(report.target),
        f"generated {timestamp(report.generated_at)}",
    ]
    body = Group(
        Text(" · ".join(f for f in facts if f), style="dim"),
        Text(""),
        _score_grid(report),
        Text(""),
        _counts_line(report),
    )
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, padding=(0, 1))


def _score_grid(report: Report) -> Table:
    grid = Table.grid(padding=(0, 3))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    overall = report.score.overall
    big = Text("\n".join(big_digits(f"{overall:.1f}")), style=f"bold {score_style(overall)}")
    big.append("\n")
    big.append("readiness / 10", style="dim")
    grid.add_row(big, _category_table(report.score.categories))
    return grid


def _category_table(categories: dict[str, float]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    for name, value in categories.items():
        table.add_row(name, Text(f"{value:.1f}", style="bold"), score_bar(value))
    return table


def _counts_line(report: Report) -> Text:
    line = Text()
    for i, (label, count) in enumerate(report.counts().items()):
        if i:
            line.append(" · ", style="dim")
        line.append(f"{count} {label}", style=SEVERITY_STYLE[label] if count else "dim")
    if report.score.capped:
        cap = f"   score capped at {CRITICAL_CAP:.1f} while critical findings remain"
        line.append(cap, style="dim")
    return line


def big_digits(text: str) -> list[str]:
    """Three rows of block characters spelling `text` (digits and '.')."""
    glyphs = [_BIG[ch] for ch in text if ch in _BIG]
    return [" ".join(g[row] for g in glyphs) for row in range(3)]


def score_bar(value: float, cells: int = 10) -> Text:
    filled = round(max(0.0, min(10.0, value)) / 10 * cells)
    bar = Text("█" * filled, style=score_style(value))
    bar.append("░" * (cells - filled), style="dim")
    return bar


def score_style(value: float) -> str:
    return {"bad": "red", "fair": "yellow", "good": "green"}[band(value)]


# -- findings --


def _blockers(phase: Phase) -> RenderableType:
    heading = Text("What blocks production first", style="bold")
    if not phase.items:
        return Group(heading, Text("  ✓ Nothing: no critical findings.", style="green"), Text(""))
    heading.append(f"  {phase.title} ({len(phase.items)})", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    shown, rest = phase.detailed(ROWS_PER_CHECK)
    for n, item in enumerate(shown, 1):
        grid.add_row(f"{n}.", _blocker(item.finding))
    for check_id, items in rest.items():
        grid.add_row("", Text(f"… and {len(items):,} more {check_id} findings", style="dim"))
    return Group(heading, Padding(grid, (0, 0, 1, 1)))


def _blocker(finding: Finding) -> Text:
    text = Text.assemble((finding.title, "bold"), " — ", (visible(finding.object), "bold"))
    text.append(f"  [{finding.check}]", style="dim")
    text.append("\n" + one_line(finding.detail))
    if finding.fix and finding.fix.sql.strip():
        text.append("\nfix: ", style="dim")
        text.append(one_line(finding.fix.sql), style="green")
    return text


def _column_widths(report: Report, width: int) -> tuple[int, int]:
    """Widths of the check and object columns, shared so every phase's table lines up."""
    room = max(40, width - 8 - 6)  # minus the severity column and the gaps between columns
    check = min(max((len(f.check) for f in report.findings), default=10), 30, room // 3)
    longest_object = max((len(visible(f.object)) for f in report.findings), default=10)
    return check, min(longest_object, 30, (room - check) // 2)


def _phase_table(phase: Phase, columns: tuple[int, int]) -> RenderableType:
    if not phase.items:
        return Text.assemble(("✓ ", "green"), (phase.title, "bold"), (" — nothing to do", "dim"))
    table = Table(
        title=Text.assemble((phase.title, "bold"), (f" — {phase.summary}", "dim")),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        expand=True,
    )
    check_width, object_width = columns
    table.add_column("severity", no_wrap=True, width=8)
    table.add_column("check", width=check_width, no_wrap=True, overflow="ellipsis")
    table.add_column("object", width=object_width, overflow="fold")
    table.add_column("detail", ratio=1, no_wrap=True, overflow="ellipsis")
    shown, rest = phase.detailed(ROWS_PER_CHECK)
    for item in shown:
        f = item.finding
        table.add_row(
            Text(f.severity.label, style=SEVERITY_STYLE[f.severity.label]),
            Text(f.check),
            Text(visible(f.object)),
            Text(one_line(f.detail)),
        )
    for check_id, items in rest.items():
        more = f"… and {len(items):,} more"
        where = ", ".join(
            f"{visible(schema) or 'other'} ({len(group):,})" for schema, group in by_schema(items)
        )
        note = Text(f"in {where}; the full list is in report.json", style="dim")
        table.add_row(Text(""), Text(check_id, style="dim"), Text(more, style="dim"), note)
    return table


def _footer(report: Report) -> Iterator[RenderableType]:
    for group in report.deferred:
        yield Text.assemble(
            ("Not actionable yet: ", "dim"),
            f"{len(group.findings):,} {group.check} — {one_line(group.reason)}",
        )
    if report.suppressed:
        n = len(report.suppressed)
        yield Text(
            f"Suppressed: {n} finding{'s' if n != 1 else ''} (reasons in PLAN.md and report.json)",
            style="dim",
        )
    for lim in report.limitations:
        yield Text.assemble(
            ("Could not see: ", "yellow"), visible(lim.area), " — ", one_line(lim.reason)
        )
    for check_id, error in report.failures:
        yield Text.assemble(
            ("Check failed (results incomplete): ", "bold red"), check_id, " — ", one_line(error)
        )
    if report.findings:
        yield Text(
            "Fixes, rollbacks and acceptance criteria: --format md or --format html.", style="dim"
        )
