"""The attack matrix for people (terminal, Markdown) and machines (JSON)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from prodready.report._text import visible
from prodready.report.json_report import dumps
from prodready.report.markdown import md_name, md_text
from prodready.rls.model import Attempt, Outcome, RlsResult
from prodready.rls.verdict import COMMANDS

STYLE = {
    Outcome.LEAK: "bold red", Outcome.DENIED: "green", Outcome.OWN_ONLY: "green",
    Outcome.PUBLIC: "cyan", Outcome.ERROR: "yellow", Outcome.SKIPPED: "dim",
}  # fmt: skip


def render_json(result: RlsResult) -> str:
    return dumps(result.to_json(), pretty=True)


def _grid(result: RlsResult) -> dict[str, dict[tuple[str, str], Attempt]]:
    grid: dict[str, dict[tuple[str, str], Attempt]] = {}
    for cell in result.matrix:
        grid.setdefault(cell.table, {})[(cell.command, cell.role)] = cell
    return grid


def _headline(result: RlsResult) -> str:
    tenants = f"tenant A {result.tenants.get('a')} attacks tenant B {result.tenants.get('b')}"
    verdict = (
        f"{len(result.leaks)} leak(s)" if result.leaks else "no leak: every attempt was denied"
    )
    return (
        f"{len(result.tables)} tenant tables, roles {', '.join(result.roles) or 'none'}, "
        f"identity {result.identity.mode}; {tenants}; {result.attempts} attempts in "
        f"{result.elapsed_s:.1f} s, each rolled back; rows changed: {result.rows_changed}. "
        f"{verdict}."
    )


def print_terminal(result: RlsResult, console: Console) -> None:
    console.print(Text(_headline(result)))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("table", overflow="fold")
    table.add_column("role", no_wrap=True)
    for command in COMMANDS:
        table.add_column(command, no_wrap=True)
    for name, cells in sorted(_grid(result).items()):
        for role in result.roles:
            row = [Text(visible(name)), Text(visible(role))]
            for command in COMMANDS:
                cell = cells.get((command, role))
                row.append(
                    Text(cell.outcome.value, style=STYLE[cell.outcome]) if cell else Text("-")
                )
            table.add_row(*row)
    console.print(table)
    for leak in result.leaks:
        console.print(
            Text.assemble(
                ("LEAK ", "bold red"),
                f"{visible(leak.table)} {leak.command} as {visible(leak.role)} ({leak.kind}, "
                f"{leak.rows} rows): {visible(leak.policy)}",
            )
        )
        console.print(Text.assemble("  fix: ", (visible(leak.fix), "green")))
        console.print(Text("  reproduce:", style="dim"))
        for line in leak.statement.splitlines():
            console.print(Text("    " + visible(line), style="dim"))
    for note in result.notes:
        console.print(Text(f"note: {visible(note)}", style="dim"))
    for line in cost_lines(result):
        console.print(Text(line))


def cost_lines(result: RlsResult) -> list[str]:
    """What the policies cost, heaviest first (rls-test --perf)."""
    costs = result.policy_costs
    if not costs:
        return []
    lines = ["Policy cost (median execution time as a tenant vs. without policies):"]
    for c in costs["statements"][:10]:
        fixed = (
            f", with fixes {c['with_fixes_ms']:.1f} ms ({c['fix_speedup']}x)"
            if c.get("with_fixes_ms") is not None else ""
        )  # fmt: skip
        lines.append(
            f"  {c['with_rls_ms']:.1f} ms vs {c['without_rls_ms']:.1f} ms "
            f"({c['policy_share']:.0%} policies){fixed} as {c['role']}: "
            f"{' '.join(c['query'].split())[:90]}"
        )
    return lines


def render_markdown(result: RlsResult) -> str:
    lines = [f"# Tenant isolation: {md_name(result.database)}", "", md_text(_headline(result)), ""]
    used = [c for c in COMMANDS if any(a.command == c for a in result.matrix)]
    header = ["Table"] + [f"{c} as {r}" for c in used for r in result.roles]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, cells in sorted(_grid(result).items()):
        values = []
        for command in used:
            for role in result.roles:
                cell = cells.get((command, role))
                mark = cell.outcome.value if cell else "-"
                values.append(f"**{mark}**" if cell and cell.outcome is Outcome.LEAK else mark)
        lines.append(f"| {md_name(name)} | " + " | ".join(values) + " |")
    if result.leaks:
        lines += ["", "## Leaks", ""]
        for leak in result.leaks:
            fence = "```"
            lines += [
                f"- **{md_name(leak.table)}** {leak.command} as `{leak.role}` ({leak.kind}, "
                f"{leak.rows} rows): {md_text(leak.policy)}",
                f"  - fix: {md_text(leak.fix)}",
                f"  - reproduce:\n\n    {fence}sql",
                *("    " + line for line in leak.statement.splitlines()),
                f"    {fence}",
            ]
    if result.notes:
        lines += ["", "## Notes", "", *(f"- {md_text(n)}" for n in result.notes)]
    costs = cost_lines(result)
    if costs:
        lines += ["", "## Policy cost", "", *(f"- {md_text(c.strip())}" for c in costs[1:])]
    return "\n".join(lines) + "\n"
