"""Migration lint output: plain terminal text, a JSON document, SARIF 2.1.0.

Unlike audit findings (about database objects), lint findings are about lines of files, so
SARIF results carry physical locations; prodready's and squawk's rules share one run and
each result says which tool's rule it is in `properties.source`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prodready import __version__
from prodready.migrate.lint import SQUAWK_DOCS, LintIssue, LintResult
from prodready.migrate.lint_rules import RULES
from prodready.report.sarif import first_per_rule, rule_descriptor, sarif_log, tool
from prodready.units import human_bytes

FINGERPRINT = "prodreadyLintKey/v1"


def render_terminal(result: LintResult) -> str:
    """One block per finding (`path:line:col: level rule: message` + help), then a summary."""
    lines: list[str] = []
    for issue in result.issues:
        lines.append(
            f"{issue.path}:{issue.line}:{issue.column}: {issue.level} "
            f"[{issue.source}/{issue.rule}] {issue.message}"
        )
        if issue.help:
            lines.append(f"    help: {issue.help}")
    if result.issues:
        lines.append("")
    lines.append(_summary(result))
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _summary(result: LintResult) -> str:
    files = len(result.files)
    counts = f"{_plural(result.errors, 'error')}, {_plural(result.warnings, 'warning')}"
    sizes = (
        f"tables sized on {result.database} (PostgreSQL {result.server_version}); "
        f"large = {human_bytes(result.options.large_bytes)} or "
        f"{result.options.large_rows:,} rows"
        if result.database
        else "tables not sized"
    )
    return f"{_plural(files, 'file')} linted: {counts} (squawk {result.squawk_version}; {sizes})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_json(result: LintResult) -> dict[str, Any]:
    """The whole result as plain JSON-able data."""
    return {
        "tool": "prodready",
        "version": __version__,
        "schema": 1,
        "command": "lint-migrations",
        "squawk_version": result.squawk_version,
        "database": (
            {"target": result.database, "server_version": result.server_version}
            if result.database
            else None
        ),
        "options": result.options.to_json(),
        "files": [
            {
                "path": f.path.as_posix(),
                "transactional": f.transactional,
                "prodready_migration": f.ours,
                "statements": f.statements,
            }
            for f in result.files
        ],
        "issues": [issue.to_json() for issue in result.issues],
        "summary": {
            "files": len(result.files),
            "errors": result.errors,
            "warnings": result.warnings,
        },
        "notes": list(result.notes),
    }


def render_sarif(result: LintResult, root: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log; file URIs are relative to `root` (the working directory) when inside."""
    root = (root or Path.cwd()).resolve()
    rules = _rules(result.issues)
    index = {rule["id"]: n for n, rule in enumerate(rules)}
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if result.notes:
        invocation["toolExecutionNotifications"] = [
            {"level": "note", "message": {"text": note}} for note in result.notes
        ]
    run = {
        "tool": tool(rules),
        "invocations": [invocation],
        "artifacts": [{"location": {"uri": _uri(f.path, root)}} for f in result.files],
        "results": [_result(issue, index, root) for issue in result.issues],
        "properties": {
            "squawkVersion": result.squawk_version,
            "database": result.database,
            "serverVersion": result.server_version,
            "options": result.options.to_json(),
        },
    }
    return sarif_log(run)


def _rules(issues: list[LintIssue]) -> list[dict[str, Any]]:
    """Every rule that appears: prodready's described from their docstrings, squawk's linked."""
    return [_rule(rule_id, issue) for rule_id, issue in first_per_rule(issues, lambda i: i.rule)]


def _rule(rule_id: str, example: LintIssue) -> dict[str, Any]:
    ours = RULES.get(rule_id) if example.source == "prodready" else None
    extra: dict[str, Any] = {}
    if ours is not None:
        title, description = ours.title, ours.description
    else:
        title, description = rule_id.replace("-", " ").capitalize(), example.help
        extra["helpUri"] = f"{SQUAWK_DOCS}{rule_id}"
    descriptor = rule_descriptor(rule_id, "-", title, description, example.level)
    properties = {"source": example.source, "tags": ["migration", "postgresql"]}
    return descriptor | extra | {"properties": properties}


def _result(issue: LintIssue, index: dict[str, int], root: Path) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": issue.line, "startColumn": issue.column}
    if issue.end_line is not None:
        region["endLine"] = issue.end_line
        if issue.end_column is not None:
            region["endColumn"] = max(issue.end_column, 1)
    uri = _uri(issue.path, root)
    return {
        "ruleId": issue.rule,
        "ruleIndex": index[issue.rule],
        "kind": "fail",
        "level": issue.level,
        "message": {"text": f"{issue.message}. {issue.help}" if issue.help else issue.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}],
        "partialFingerprints": {FINGERPRINT: _fingerprint(issue, uri)},
        "properties": {"source": issue.source, "evidence": issue.evidence},
    }


def _uri(path: Path, root: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_uri()


def _fingerprint(issue: LintIssue, uri: str) -> str:
    """Stable across runs while the finding stays on the same line (sizes may change)."""
    text = "\0".join((issue.source, issue.rule, uri, str(issue.line), str(issue.column)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
