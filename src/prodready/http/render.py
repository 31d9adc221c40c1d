"""The probe's findings for people (terminal, Markdown) and machines (JSON)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from prodready.http.pipeline import ProbeResult
from prodready.report._text import one_line, visible
from prodready.report.json_report import dumps
from prodready.report.markdown import md_name, md_text
from prodready.report.terminal import SEVERITY_STYLE


def render_json(result: ProbeResult) -> str:
    return dumps(result.to_json(), pretty=True)


def _headline(result: ProbeResult) -> str:
    snap = result.snapshot
    data = result.to_json()
    mdn = data["observatory"]
    return (
        f"{snap.target}: {len(snap.exchanges)} requests in {snap.elapsed_s:.1f} s; "
        f"{len(result.findings)} finding(s), {len(result.passed)} check(s) passed, "
        f"{len(result.not_applicable)} not applicable. Readiness {data['score']:.1f}/10; "
        f"MDN Observatory method: {mdn['score']} ({mdn['grade']})."
    )


def print_terminal(result: ProbeResult, console: Console) -> None:
    console.print(Text(_headline(result)))
    for f in result.findings:
        console.print(
            Text.assemble(
                (f"{f.severity.label:<8} ", SEVERITY_STYLE[f.severity.label]),
                (f"{f.check:<38} ", "bold"),
                visible(f.object),
            )
        )
        console.print(Text("         " + one_line(f.detail), style="dim"))
    for check, reason in result.not_applicable.items():
        console.print(Text(f"n/a      {check}: {reason}", style="dim"))
    for note in result.snapshot.notes:
        console.print(Text(f"note: {note}", style="dim"))


def render_markdown(result: ProbeResult) -> str:
    lines = [f"# HTTP probe: {md_name(result.snapshot.target)}", "", md_text(_headline(result))]
    if result.findings:
        lines += ["", "| Severity | Check | Where | What |", "|---|---|---|---|"]
        lines += [
            f"| {f.severity.label} | `{f.check}` | {md_name(f.object)} | {md_text(f.detail)} |"
            for f in result.findings
        ]
    if result.not_applicable:
        lines += [
            "",
            *(f"- not applicable: `{c}`: {md_text(r)}" for c, r in result.not_applicable.items()),
        ]
    return "\n".join(lines) + "\n"
