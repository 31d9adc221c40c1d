"""The source scan's check registry: same shape as `prodready.registry`, over a CodeSnapshot.

A check is a pure function `(snapshot, options) -> Iterable[CodeIssue]`; `run_code_checks`
stamps each issue into a `CodeFinding`: a model.Finding (object "path:line") plus the file,
line and fix text the scan's JSON contract names.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from prodready.code.snapshot import CodeSnapshot
from prodready.model import Category, CheckInfo, Config, Finding, Severity, Suppressed

Options = Mapping[str, Any]


@dataclass(frozen=True)
class CodeIssue:
    """What a code check yields. `ident` keeps the key stable when lines move (a secret's
    fingerprint, an env var's name); `fingerprint` is what a baseline file may list."""

    file: str | None
    line: int | None
    detail: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    ident: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class CodeFinding:
    finding: Finding
    file: str | None
    line: int | None
    fix: str
    fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The scan's JSON contract, plus the stable key and the explanation."""
        return {
            "check": self.finding.check,
            "severity": self.finding.severity.label,
            "file": self.file,
            "line": self.line,
            "object": self.finding.object,
            "title": self.finding.title,
            "evidence": self.finding.evidence,
            "fix": self.fix,
            "key": self.finding.key,
            "category": self.finding.category.value,
            "detail": self.finding.detail,
        }


CodeCheckFn = Callable[[CodeSnapshot, Options], Iterable[CodeIssue]]


@dataclass(frozen=True)
class CodeCheck:
    info: CheckInfo
    run: CodeCheckFn


_CATALOG: dict[str, CodeCheck] = {}


def code_check(
    id: str, *, title: str, category: Category, severity: Severity
) -> Callable[[CodeCheckFn], CodeCheckFn]:
    """Register a code check; its docstring is the description users read."""

    def register(fn: CodeCheckFn) -> CodeCheckFn:
        if id in _CATALOG:
            raise ValueError(f"duplicate check id {id!r}")
        doc = inspect.getdoc(fn)
        if not doc:
            raise ValueError(f"check {id!r} needs a docstring: why it matters and how to fix it")
        _CATALOG[id] = CodeCheck(CheckInfo(id, title, category, severity, doc), fn)
        return fn

    return register


def code_catalog() -> list[CodeCheck]:
    import prodready.code.checks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return [_CATALOG[key] for key in sorted(_CATALOG)]


@dataclass
class CodeRun:
    findings: list[CodeFinding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def run_code_checks(
    snapshot: CodeSnapshot,
    config: Config | None = None,
    *,
    baseline: frozenset[str] = frozenset(),
    strict: bool = False,
) -> CodeRun:
    """Every code check over the snapshot; baseline fingerprints and keys are suppressed."""
    config = config or Config()
    result = CodeRun()
    for registered in code_catalog():
        info = registered.info
        if info.id in config.disabled:
            continue
        try:
            issues = list(registered.run(snapshot, config.options.get(info.id, {})))
        except Exception as exc:
            if strict:
                raise
            result.failures.append((info.id, f"{type(exc).__name__}: {exc}"))
            continue
        for found in _stamp(info, issues):
            reason = _suppression(found.finding.key, config.suppressions)
            if reason is None and (found.fingerprint in baseline or found.finding.key in baseline):
                reason = "in the baseline file"
            if reason is None:
                result.findings.append(found)
            else:
                result.suppressed.append(Suppressed(found.finding, reason))
    result.findings.sort(key=lambda f: (*f.finding.sort_key(), f.file or "", f.line or 0))
    return result


def _stamp(info: CheckInfo, issues: list[CodeIssue]) -> Iterable[CodeFinding]:
    seen: dict[str, int] = {}
    for issue in sorted(issues, key=lambda i: (i.file or "", i.line or 0, i.detail)):
        obj = _object(issue)
        key = f"{info.id}:{issue.file or '.'}:{issue.ident or issue.line or ''}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        finding = Finding(
            key=key,
            check=info.id,
            severity=issue.severity if issue.severity is not None else info.severity,
            category=info.category,
            object=obj,
            title=info.title,
            detail=issue.detail,
            evidence=issue.evidence,
            fix=None,
        )
        yield CodeFinding(finding, issue.file, issue.line, issue.fix, issue.fingerprint)


def _suppression(key: str, suppressions: Mapping[str, str]) -> str | None:
    """The reason a prodready.toml [[suppress]] entry gives (`*` patterns too)."""
    if key in suppressions:
        return suppressions[key]
    return next(
        (
            why
            for pattern, why in suppressions.items()
            if "*" in pattern and fnmatchcase(key, pattern)
        ),
        None,
    )


def _object(issue: CodeIssue) -> str:
    if issue.file is None:
        return "(repository)"
    return f"{issue.file}:{issue.line}" if issue.line is not None else issue.file
