"""Terminal and Markdown views of an AdvisorResult.

Statements, index names and reasons come from the user's database: they go through
`Text` (never rich markup) and `visible()`, so they cannot inject markup or escapes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from prodready.advisor.model import AdvisorResult, DropRecommendation, IndexRecommendation
from prodready.report._text import one_line, visible_sql
from prodready.units import human_bytes

WIDTH = 120
QUERY_CHARS = 90
CONFIDENCE_STYLE = {
    "measured": "green",
    "validated": "green",
    "estimated": "yellow",
    "unvalidated": "red",
}


def render_terminal(result: AdvisorResult, width: int = WIDTH) -> str:
    """The result as plain text (no colour)."""
    console = Console(
        file=io.StringIO(), width=width, color_system=None, force_terminal=False, emoji=False
    )
    print_terminal(result, console)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def print_terminal(result: AdvisorResult, console: Console) -> None:
    """Print to `console`; the caller decides colour."""
    for part in _terminal_parts(result):
        console.print(part, highlight=False)


def render_markdown(result: AdvisorResult) -> str:
    return "\n".join(_markdown_lines(result)).rstrip() + "\n"


# -- shared wording --


def summary(result: AdvisorResult) -> str:
    """One line: how much of the workload was planned and what the advice does to its cost."""
    before, after = result.workload_cost_before, result.workload_cost_after
    text = (
        f"{result.explained} of {result.statements} statements planned, "
        f"{len(result.skipped)} skipped; {len(result.indexes)} index(es) to create"
        + (f" ({human_bytes(result.new_index_bytes)} in all)" if result.indexes else "")
        + f", {len(result.drops)} to drop"
    )
    if before > 0 and after < before:
        text += f"; workload cost {before:,.0f} -> {after:,.0f} ({_ratio(before, after)})"
    return text


def stats_line(result: AdvisorResult) -> str:
    lookups = result.whatif_calls + result.cache_hits
    rate = f"{100 * result.cache_hits / lookups:.0f}%" if lookups else "n/a"
    return (
        f"{result.whatif_calls:,} planner calls, plan cache hit rate {rate}, "
        f"{result.elapsed_s:.1f} s"
    )


def _ratio(before: float, after: float) -> str:
    if after <= 0:
        return "all of it saved"
    return f"{before / after:,.1f}x cheaper"


def _saving(index: IndexRecommendation) -> str:
    before, after = index.workload_cost_before, index.workload_cost_after
    if index.confidence == "measured" and before == after:
        return "measured faster, not costed by the planner"
    if index.confidence == "unvalidated" or before <= 0:
        return "not costed"
    return f"{100 * (before - after) / before:.1f}% of the workload cost"


def _query(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= QUERY_CHARS else line[: QUERY_CHARS - 1] + "…"


# -- terminal --


def _terminal_parts(result: AdvisorResult) -> Iterator[RenderableType]:
    yield Text("prodready advise", style="bold")
    yield Text(summary(result))
    yield Text(stats_line(result), style="dim")
    yield Text("")
    if not result.indexes:
        yield Text("No new index pays for itself on this workload.", style="green")
    for number, index in enumerate(result.indexes, 1):
        yield from _terminal_index(number, index)
    if result.drops:
        yield Text("Indexes to drop", style="bold")
        for drop in result.drops:
            yield from _terminal_drop(drop)
    if result.skipped:
        yield Text(f"Skipped statements ({len(result.skipped)})", style="bold")
        table = Table(box=box.SIMPLE, show_header=True, header_style="dim")
        table.add_column("statement", overflow="fold", ratio=3)
        table.add_column("reason", overflow="fold", ratio=2)
        for skipped in result.skipped:
            table.add_row(Text(_query(skipped.query)), Text(one_line(skipped.reason)))
        yield table
    for note in result.notes:
        yield Text(f"note: {one_line(note)}", style="dim")


def _terminal_index(number: int, index: IndexRecommendation) -> Iterator[RenderableType]:
    title = Text(f"{number}. ", style="bold")
    title.append(one_line(index.table), style="bold")
    title.append(f"  [{index.confidence}]", style=CONFIDENCE_STYLE.get(index.confidence, ""))
    title.append(f"  {human_bytes(index.estimated_bytes)}, saves {_saving(index)}")
    if index.write_overhead:
        title.append(f", write overhead {100 * index.write_overhead:.0f}% of its gain")
    yield title
    yield Text("   " + visible_sql(index.definition))
    yield Text("   rollback: " + visible_sql(index.rollback), style="dim")
    if index.reason:
        # a prerequisite (CREATE EXTENSION pg_trgm) must not fade into the background
        style = "" if _prerequisite(index) else "dim"
        yield Text("   " + one_line(index.reason), style=style)
    if index.queries:
        table = Table(box=box.SIMPLE, show_header=True, header_style="dim", padding=(0, 1))
        table.add_column("query", overflow="fold", ratio=4)
        table.add_column("calls", justify="right")
        table.add_column("cost before", justify="right")
        table.add_column("after", justify="right")
        table.add_column("speedup", justify="right")
        for query in index.queries:
            table.add_row(
                Text(_query(query.query)),
                f"{query.calls:,.0f}",
                f"{query.cost_before:,.1f}",
                f"{query.cost_after:,.1f}",
                _speedup(query.cost_before, query.cost_after, index.confidence),
            )
        yield table
    else:
        yield Text("")


def _terminal_drop(drop: DropRecommendation) -> Iterator[RenderableType]:
    line = Text(f"- {one_line(drop.index)}", style="bold")
    line.append(f"  [{drop.reason}]  {human_bytes(drop.estimated_bytes)}")
    yield line
    yield Text("   " + visible_sql(drop.definition))
    yield Text("   rollback: " + visible_sql(drop.rollback), style="dim")
    if drop.detail:
        yield Text("   " + one_line(drop.detail), style="dim")
    yield Text("")


def _prerequisite(index: IndexRecommendation) -> bool:
    """The index cannot be built before something else is done (an extension created)."""
    return "CREATE EXTENSION" in index.reason


def _speedup(before: float, after: float, confidence: str) -> str:
    if confidence == "unvalidated":
        return "?"
    if after <= 0:
        return "∞"
    return f"{before / after:,.1f}x"


# -- markdown --


def _markdown_lines(result: AdvisorResult) -> Iterator[str]:
    yield "# Index advice"
    yield ""
    yield summary(result) + "."
    yield ""
    yield f"_{stats_line(result)}_"
    yield ""
    yield "## Indexes to create"
    yield ""
    if not result.indexes:
        yield "No new index pays for itself on this workload."
        yield ""
    for number, index in enumerate(result.indexes, 1):
        yield from _markdown_index(number, index)
    if result.drops:
        yield "## Indexes to drop"
        yield ""
        for drop in result.drops:
            yield from _markdown_drop(drop)
    if result.skipped:
        yield "## Skipped statements"
        yield ""
        yield "| statement | reason |"
        yield "| --- | --- |"
        for skipped in result.skipped:
            yield f"| `{_cell(_query(skipped.query))}` | {_cell(one_line(skipped.reason))} |"
        yield ""
    if result.notes:
        yield "## Notes"
        yield ""
        for note in result.notes:
            yield f"- {_cell(one_line(note))}"


def _markdown_index(number: int, index: IndexRecommendation) -> Iterator[str]:
    yield f"### {number}. {_cell(one_line(index.table))} ({index.confidence})"
    yield ""
    facts = [f"size ~{human_bytes(index.estimated_bytes)}", f"saves {_saving(index)}"]
    if index.write_overhead:
        facts.append(f"write overhead {100 * index.write_overhead:.0f}% of its gain")
    yield ", ".join(facts) + "."
    if index.reason:
        yield ""
        reason = _cell(one_line(index.reason))
        if _prerequisite(index) and "; " in reason:
            first, rest = reason.split("; ", 1)
            reason = f"**{first}**; {rest}"
        yield reason
    yield ""
    yield from _fence(index.definition + ";", "-- rollback", index.rollback + ";")
    if index.queries:
        yield "| query | calls | cost before | after | speedup |"
        yield "| --- | ---: | ---: | ---: | ---: |"
        for query in index.queries:
            speedup = _speedup(query.cost_before, query.cost_after, index.confidence)
            yield (
                f"| `{_cell(_query(query.query))}` | {query.calls:,.0f} | "
                f"{query.cost_before:,.1f} | {query.cost_after:,.1f} | {speedup} |"
            )
        yield ""


def _markdown_drop(drop: DropRecommendation) -> Iterator[str]:
    yield (
        f"- **{_cell(one_line(drop.index))}** ({drop.reason}, "
        f"{human_bytes(drop.estimated_bytes)}): {_cell(one_line(drop.detail))}"
    )
    yield ""
    for line in _fence(drop.definition + ";", "-- rollback", drop.rollback + ";"):
        yield "  " + line if line else ""


def _fence(*lines: str) -> Iterator[str]:
    fence = "```"
    while any(fence in line for line in lines):
        fence += "`"
    yield fence + "sql"
    for line in lines:
        yield visible_sql(line)
    yield fence
    yield ""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or emphasis."""
    return text.replace("|", "\\|").replace("`", "'")
