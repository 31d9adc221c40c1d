"""The source scan's output: terminal, JSON (the contract), Markdown and SARIF."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.markup import escape

from prodready.code.registry import CodeFinding, code_catalog
from prodready.code.scan import ScanResult
from prodready.model import Severity
from prodready.report.sarif import (
    FINGERPRINT,
    LEVEL,
    SECURITY_SEVERITY,
    rule_descriptor,
    sarif_log,
    tool,
)

FORMATS = ("terminal", "json", "md", "sarif")
_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def render(result: ScanResult, fmt: str) -> str:
    """JSON, Markdown or SARIF text (the terminal format is printed by `print_terminal`)."""
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return markdown(result)
    return json.dumps(sarif(result), indent=2, ensure_ascii=False) + "\n"


def print_terminal(result: ScanResult, console: Console) -> None:
    findings = result.run.findings
    console.print(
        f"[bold]prodready scan[/] {escape(result.root)}: {result.files_scanned} files in "
        f"{result.elapsed_s:.2f} s, {len(findings)} finding(s)"
        + (f", {len(result.run.suppressed)} suppressed" if result.run.suppressed else "")
    )
    for found in findings:
        f = found.finding
        style = _STYLE[f.severity]
        console.print(
            f"[{style}]{f.severity.label.upper():8}[/] {f.check:34} {escape(f.object)}\n"
            f"         {escape(f.detail)}\n         [dim]fix: {escape(found.fix)}[/]"
        )
    for note in result.notes:
        console.print(f"[dim]skipped {escape(note)}[/]")
    for check_id, error in result.run.failures:
        console.print(f"[red]check {check_id} failed: {escape(error)}[/]")
    if not findings:
        console.print("[green]No findings.[/]")


def markdown(result: ScanResult) -> str:
    findings = result.run.findings
    lines = [
        f"# Source scan: {result.root}",
        "",
        f"{result.files_scanned} files scanned in {result.elapsed_s:.2f} s; "
        f"{len(findings)} finding(s), {len(result.run.suppressed)} suppressed.",
        "",
    ]
    if findings:
        counts = Counter((f.finding.severity, f.finding.check) for f in findings)
        lines += ["| severity | check | findings |", "| --- | --- | ---: |"]
        for (severity, check_id), n in sorted(counts.items(), key=lambda x: (-x[0][0], x[0][1])):
            lines.append(f"| {severity.label} | `{check_id}` | {n} |")
        lines += [
            "",
            "| severity | check | where | what | fix |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_md_row(f) for f in findings]
    if result.notes:
        lines += ["", "Not read:", "", *(f"- {_cell(n)}" for n in result.notes)]
    return "\n".join(lines) + "\n"


def _md_row(found: CodeFinding) -> str:
    f = found.finding
    return (
        f"| {f.severity.label} | `{f.check}` | `{_cell(f.object)}` | {_cell(f.detail)} "
        f"| {_cell(found.fix)} |"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sarif(result: ScanResult) -> dict[str, Any]:
    findings = result.run.findings
    infos = {c.info.id: c.info for c in code_catalog()}
    used = sorted({f.finding.check for f in findings})
    rules = []
    for check_id in used:
        info = infos[check_id]
        descriptor = rule_descriptor(
            check_id, "_", info.title, info.description, LEVEL[info.severity]
        )
        properties: dict[str, Any] = {"category": info.category.value, "tags": [info.category]}
        if info.category == "security" and info.severity in SECURITY_SEVERITY:
            properties["security-severity"] = SECURITY_SEVERITY[info.severity]
        rules.append(descriptor | {"properties": properties})
    index = {check_id: n for n, check_id in enumerate(used)}
    run = {
        "tool": tool(rules),
        "originalUriBaseIds": {"SRCROOT": {"uri": _root_uri(result.root)}},
        "results": [_result(f, index) for f in findings],
        "invocations": [{"executionSuccessful": not result.run.failures}],
    }
    return sarif_log(run)


def _result(found: CodeFinding, index: dict[str, int]) -> dict[str, Any]:
    f = found.finding
    result: dict[str, Any] = {
        "ruleId": f.check,
        "ruleIndex": index[f.check],
        "level": LEVEL[f.severity],
        "message": {"text": f"{f.title}: {f.detail}. Fix: {found.fix}"},
        "partialFingerprints": {FINGERPRINT: f.key},
        "properties": {"severity": f.severity.label, "evidence": f.evidence},
    }
    if found.file is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": found.file, "uriBaseId": "SRCROOT"}}
        if found.line is not None:
            physical["region"] = {"startLine": found.line}
        result["locations"] = [{"physicalLocation": physical}]
    return result


def _root_uri(root: str) -> str:
    from pathlib import Path

    uri = Path(root).resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"
