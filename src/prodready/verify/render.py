"""Terminal, Markdown and JSON views of a verify comparison, and of a saved baseline.

Statements, plans and error messages come from the user's database: they go through
`Text` (never rich markup) and `one_line()`, so they cannot inject markup or escapes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from prodready.report._text import one_line
from prodready.verify.compare import Comparison, StatementComparison
from prodready.verify.model import Baseline, Captured, Measurement

WIDTH = 120
QUERY_CHARS = 60


def render_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison JSON contract (see Comparison.to_json)."""
    return comparison.to_json()


def render_terminal(comparison: Comparison, width: int = WIDTH) -> str:
    """The comparison as plain text (no colour)."""
    return _plain(_comparison_parts(comparison, width), width)


def print_terminal(comparison: Comparison, console: Console) -> None:
    """Print to `console`; the caller decides colour."""
    for part in _comparison_parts(comparison, console.width):
        console.print(part, highlight=False)


def render_markdown(comparison: Comparison) -> str:
    return "\n".join(_comparison_markdown(comparison)).rstrip() + "\n"


def render_baseline_terminal(baseline: Baseline, width: int = WIDTH) -> str:
    """What `--save` measured, as plain text."""
    return _plain(_baseline_parts(baseline, width), width)


def print_baseline_terminal(baseline: Baseline, console: Console) -> None:
    for part in _baseline_parts(baseline, console.width):
        console.print(part, highlight=False)


def render_baseline_markdown(baseline: Baseline) -> str:
    return "\n".join(_baseline_markdown(baseline)).rstrip() + "\n"


# -- shared wording --------------------------------------------------------------------------


def weighted_line(comparison: Comparison) -> str:
    """'weighted workload 812.4 ms -> 31.2 ms: 26.0x faster (5 statements)'."""
    before, after = comparison.weighted_before_ms, comparison.weighted_after_ms
    count = len(comparison.compared)
    text = f"weighted workload (calls x mean) {_ms(before)} -> {_ms(after)}"
    speedup = comparison.speedup
    if speedup is not None:
        text += f": {_factor(speedup)}"
    return f"{text} ({count} statement{'s' if count != 1 else ''} compared)"


def verdict_line(comparison: Comparison) -> str:
    target = comparison.expect_speedup
    if comparison.passed:
        goal = f" (target {target:g}x)" if target is not None else ""
        return f"PASS{goal}"
    return "FAIL: " + "; ".join(comparison.reasons)


def _factor(speedup: float) -> str:
    if speedup >= 1:
        return f"{speedup:,.1f}x faster"
    return f"{1 / speedup:,.1f}x slower"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.3f} ms"
    if value < 100:
        return f"{value:.2f} ms"
    return f"{value:,.0f} ms"


def _num(value: float | None) -> str:
    """A duration in ms without its unit (the column header has it)."""
    return _ms(value).removesuffix(" ms")


def _label(row: StatementComparison | Captured) -> str:
    statement = row.statement
    text = statement.name or one_line(statement.query)
    return text if len(text) <= QUERY_CHARS else text[: QUERY_CHARS - 1] + "…"


def _speedup(row: StatementComparison) -> str:
    speedup = row.speedup
    return "-" if speedup is None else f"{speedup:,.1f}x"


def _plan_cell(row: StatementComparison) -> str:
    changed = row.plan_changed
    return "-" if changed is None else "changed" if changed else "same"


def _note(row: StatementComparison) -> str:
    if row.status != "compared":
        prefix = "FAILS NOW" if row.status == "failed" else "skipped"
        return f"{prefix}: {one_line(row.reason or '')}"
    parts = []
    if row.regression:
        parts.append("REGRESSION")
    if row.indexes_added:
        parts.append("now uses " + ", ".join(one_line(i) for i in row.indexes_added))
    if row.indexes_removed:
        parts.append("no longer uses " + ", ".join(one_line(i) for i in row.indexes_removed))
    if row.before and row.after and row.before.rows != row.after.rows:
        parts.append(f"rows {row.before.rows:g} -> {row.after.rows:g}")
    return "; ".join(parts)


def _p50(m: Measurement | None) -> float | None:
    return m.p50_ms if m else None


def _p95(m: Measurement | None) -> float | None:
    return m.p95_ms if m else None


# -- terminal --------------------------------------------------------------------------------


def _plain(parts: Iterator[RenderableType], width: int) -> str:
    console = Console(
        file=io.StringIO(), width=width, color_system=None, force_terminal=False, emoji=False
    )
    for part in parts:
        console.print(part, highlight=False)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _comparison_parts(comparison: Comparison, width: int) -> Iterator[RenderableType]:
    base = comparison.baseline
    yield Text("prodready verify", style="bold")
    yield Text(
        f"baseline of {base.created_at or 'unknown date'} on {one_line(base.database) or '?'}; "
        f"{comparison.runs} runs per statement after {comparison.warmup} warm-up; "
        "server time (planning + execution), before → after",
        style="dim",
    )
    rows = [
        (
            Text(_label(row)),
            f"{row.statement.calls:,.0f}",
            f"{_num(_p50(row.before))} → {_num(_p50(row.after))}",
            f"{_num(_p95(row.before))} → {_num(_p95(row.after))}",
            _speedup(row),
            _plan_cell(row),
            Text(_note(row), style="red" if row.regression or row.status == "failed" else ""),
        )
        for row in comparison.statements
    ]
    headers = ("statement", "calls", "p50 ms", "p95 ms", "speedup", "plan", "note")
    yield _table(headers, rows, width, right=(1, 2, 3, 4), optional=(3, 5))
    changed = [r for r in comparison.compared if r.plan_changed and r.before and r.after]
    for row in changed:
        assert row.before is not None and row.after is not None
        yield Text(f"plan of {_label(row)}", style="bold")
        yield Text(f"  before: {one_line(row.before.plan)}", style="dim", overflow="fold")
        yield Text(f"  after:  {one_line(row.after.plan)}", style="dim", overflow="fold")
    yield Text(weighted_line(comparison), style="bold")
    yield Text(verdict_line(comparison), style="green" if comparison.passed else "red")
    for note in comparison.notes:
        yield Text(f"note: {one_line(note)}", style="dim")


def _baseline_parts(baseline: Baseline, width: int) -> Iterator[RenderableType]:
    yield Text("prodready verify: baseline", style="bold")
    yield Text(
        f"{len(baseline.measured)} of {len(baseline.statements)} statements measured on "
        f"{one_line(baseline.database) or '?'} (PostgreSQL {baseline.server_version}), "
        f"{baseline.runs} runs after {baseline.warmup} warm-up; weighted workload "
        f"{_ms(baseline.weighted_ms)}",
        style="dim",
    )
    rows = []
    for captured in baseline.statements:
        m = captured.measurement
        rows.append(
            (
                Text(_label(captured)),
                Text(one_line(captured.statement.role or "-")),
                f"{captured.statement.calls:,.0f}",
                _ms(m.p50_ms if m else None),
                _ms(m.p95_ms if m else None),
                _ms(m.mean_ms if m else None),
                Text(
                    one_line(m.plan)
                    if m
                    else f"{captured.status}: {one_line(captured.reason or '')}"
                ),
            )
        )
    headers = ("statement", "role", "calls", "p50", "p95", "mean", "plan / reason")
    yield _table(headers, rows, width, right=(2, 3, 4, 5), optional=(5, 4, 1))
    for item in baseline.unrunnable:
        yield Text(f"not run: {_short(item.query)}: {one_line(item.reason)}", style="dim")
    for note in baseline.notes:
        yield Text(f"note: {one_line(note)}", style="dim")


NAME_CHARS = 24  # a statement or role name longer than this is cut with an ellipsis
MIN_FREE_TEXT = 12  # the last column's width below which optional columns are dropped


def _table(
    headers: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    width: int,
    right: tuple[int, ...],
    optional: tuple[int, ...] = (),
) -> Table:
    """One line per row: columns get their natural width (names capped), the last column
    (free text) what is left, cut and never folded; on a narrow terminal the `optional`
    columns go first, in that order, so the numbers stay whole."""
    natural = [
        max([len(headers[i]), *(len(str(row[i])) for row in rows)]) for i in range(len(headers))
    ]
    natural = [min(w, NAME_CHARS) if headers[i] in ("statement", "role") else w
               for i, w in enumerate(natural)]  # fmt: skip
    keep = list(range(len(headers)))
    drop = list(optional)

    def room() -> int:
        return width - sum(natural[i] for i in keep[:-1]) - 2 * len(keep) - 2

    while room() < MIN_FREE_TEXT and drop:
        keep.remove(drop.pop(0))
    table = Table(box=box.SIMPLE, show_header=True, header_style="dim", padding=(0, 1))
    for i in keep:
        last = i == keep[-1]
        table.add_column(
            headers[i],
            justify="right" if i in right else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if last else natural[i],
            max_width=max(room(), 4) if last else natural[i],
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def _short(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= QUERY_CHARS else line[: QUERY_CHARS - 1] + "…"


# -- markdown --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return one_line(text).replace("|", "\\|").replace("`", "'")


def _comparison_markdown(comparison: Comparison) -> Iterator[str]:
    yield "# Workload verification"
    yield ""
    yield f"**{_cell(verdict_line(comparison))}** — {_cell(weighted_line(comparison))}."
    yield ""
    yield (
        f"_{comparison.runs} runs per statement after {comparison.warmup} warm-up, server time"
        f" (planning + execution); baseline of {_cell(comparison.baseline.created_at)}._"
    )
    yield ""
    yield (
        "| statement | calls | p50 before | p50 after | p95 before | p95 after | speedup"
        " | plan | note |"
    )
    yield "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    for row in comparison.statements:
        cells = [
            f"`{_cell(_label(row))}`",
            f"{row.statement.calls:,.0f}",
            _ms(_p50(row.before)),
            _ms(_p50(row.after)),
            _ms(_p95(row.before)),
            _ms(_p95(row.after)),
            _speedup(row),
            _plan_cell(row),
            _cell(_note(row)),
        ]
        yield "| " + " | ".join(cells) + " |"
    yield ""
    changed = [r for r in comparison.compared if r.plan_changed and r.before and r.after]
    if changed:
        yield "## Plans that changed"
        yield ""
        for row in changed:
            assert row.before is not None and row.after is not None
            yield f"- `{_cell(_label(row))}`"
            yield f"  - before: `{_cell(row.before.plan)}`"
            yield f"  - after: `{_cell(row.after.plan)}`"
        yield ""
    for note in comparison.notes:
        yield f"_note: {_cell(note)}_"


def _baseline_markdown(baseline: Baseline) -> Iterator[str]:
    yield "# Workload baseline"
    yield ""
    yield (
        f"{len(baseline.measured)} of {len(baseline.statements)} statements measured on "
        f"`{_cell(baseline.database)}` (PostgreSQL {_cell(baseline.server_version)}), "
        f"{baseline.runs} runs after {baseline.warmup} warm-up; weighted workload "
        f"{_ms(baseline.weighted_ms)}."
    )
    yield ""
    yield "| statement | role | calls | p50 | p95 | mean | plan / reason |"
    yield "| --- | --- | ---: | ---: | ---: | ---: | --- |"
    for captured in baseline.statements:
        m = captured.measurement
        detail = m.plan if m else f"{captured.status}: {captured.reason or ''}"
        cells = [
            f"`{_cell(_label(captured))}`",
            _cell(captured.statement.role or "-"),
            f"{captured.statement.calls:,.0f}",
            _ms(m.p50_ms if m else None),
            _ms(m.p95_ms if m else None),
            _ms(m.mean_ms if m else None),
            _cell(detail),
        ]
        yield "| " + " | ".join(cells) + " |"
    yield ""
    if baseline.unrunnable:
        yield "## Not run"
        yield ""
        for item in baseline.unrunnable:
            yield f"- `{_cell(_short(item.query))}`: {_cell(item.reason)}"
        yield ""
    for note in baseline.notes:
        yield f"_note: {_cell(note)}_"
