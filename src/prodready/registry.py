"""The check registry: `@check` declares metadata once; `run_checks` stamps findings.

A check is a pure function `(snapshot, options) -> Iterable[Issue]`. The registry adds
the id, category, severity, phase and the stable key (bandit's "the runner stamps").
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from prodready.db.snapshot import Snapshot
from prodready.model import Category, CheckInfo, Config, Finding, Issue, Severity, Suppressed

Options = Mapping[str, Any]
CheckFn = Callable[[Any, Options], Iterable[Issue]]  # a db Snapshot or an HTTP ProbeSnapshot


@dataclass(frozen=True)
class Check:
    info: CheckInfo
    run: CheckFn


_CATALOG: dict[str, Check] = {}


def check(
    id: str,
    *,
    title: str,
    category: Category,
    severity: Severity,
    options: dict[str, Any] | None = None,
    surface: str = "db",
) -> Callable[[CheckFn], CheckFn]:
    """Register a check; its docstring is the description users read. `surface` says which
    snapshot it reads: the database's ("db") or the HTTP probe's ("http")."""

    def register(fn: CheckFn) -> CheckFn:
        if id in _CATALOG:
            raise ValueError(f"duplicate check id {id!r}")
        doc = inspect.getdoc(fn)
        if not doc:
            raise ValueError(f"check {id!r} needs a docstring: why it matters and how to fix it")
        info = CheckInfo(id, title, category, severity, doc, dict(options or {}), surface)
        _CATALOG[id] = Check(info, fn)
        return fn

    return register


def catalog() -> list[Check]:
    """Every registered check, sorted by id."""
    _load_builtin_checks()
    return [_CATALOG[key] for key in sorted(_CATALOG)]


def every_check() -> list[Any]:
    """The database and HTTP checks, then the source scan's (its own registry, same CheckInfo)."""
    from prodready.code.registry import code_catalog

    return [*catalog(), *code_catalog()]


def get(check_id: str) -> Check | None:
    _load_builtin_checks()
    return _CATALOG.get(check_id)


def _load_builtin_checks() -> None:
    import prodready.db.checks as db_checks
    import prodready.http.checks as http_checks

    for package in (db_checks, http_checks):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


@dataclass
class CheckRun:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def run_checks(
    snapshot: Any,
    config: Config | None = None,
    *,
    only: Iterable[str] | None = None,
    strict: bool = False,
) -> CheckRun:
    """Run the catalog's checks for the snapshot's surface (a database Snapshot, or the
    HTTP probe's); `strict` re-raises a failing check (for tests)."""
    config = config or Config()
    wanted = set(only) if only is not None else None
    surface = "db" if isinstance(snapshot, Snapshot) else getattr(snapshot, "surface", "db")
    result = CheckRun()
    for registered in catalog():
        info = registered.info
        if info.surface != surface:
            continue
        if (wanted is not None and info.id not in wanted) or info.id in config.disabled:
            continue
        options = {**info.options, **config.options.get(info.id, {})}
        try:
            issues = list(registered.run(snapshot, options))
        except Exception as exc:
            if strict:
                raise
            result.failures.append((info.id, f"{type(exc).__name__}: {exc}"))
            continue
        for finding in _stamp(info, issues):
            reason = _suppression_reason(finding.key, config.suppressions)
            if reason is None:
                result.findings.append(finding)
            else:
                result.suppressed.append(Suppressed(finding, reason))
    result.findings.sort(key=Finding.sort_key)
    result.suppressed.sort(key=lambda s: s.finding.sort_key())
    return result


def _stamp(info: CheckInfo, issues: list[Issue]) -> Iterable[Finding]:
    seen: dict[str, int] = {}
    for issue in sorted(issues, key=lambda i: (i.object, i.detail)):
        key = f"{info.id}:{issue.object}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        yield Finding(
            key=key,
            check=info.id,
            severity=issue.severity if issue.severity is not None else info.severity,
            category=info.category,
            object=issue.object,
            title=info.title,
            detail=issue.detail,
            evidence=issue.evidence,
            fix=issue.fix,
            verify=issue.verify,
            deferred=issue.deferred,
        )


def _suppression_reason(key: str, suppressions: Mapping[str, str]) -> str | None:
    if key in suppressions:
        return suppressions[key]
    for pattern, reason in suppressions.items():
        if "*" in pattern and fnmatchcase(key, pattern):
            return reason
    return None
