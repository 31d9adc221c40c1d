"""Turn findings into a readiness score and a phased plan; renderers only format this."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from prodready import __version__
from prodready.db.snapshot import Limitation, Snapshot
from prodready.model import Category, Finding, Severity, Suppressed
from prodready.registry import CheckRun

REPORT_SCHEMA = 1
CRITICAL_CAP = 4.0

# Points one finding takes off its category's 10; repeats of the same check weigh
# logarithmically so fifty unindexed foreign keys do not drown one open table.
SEVERITY_WEIGHT = {
    Severity.CRITICAL: 5.0,
    Severity.HIGH: 2.5,
    Severity.MEDIUM: 1.0,
    Severity.LOW: 0.25,
    Severity.INFO: 0.0,
}

PHASES = {
    1: ("Phase 1: blockers", "Critical: fix before going to production."),
    2: ("Phase 2: high priority", "High: fix in the first week."),
    3: ("Phase 3: hardening", "Medium: schedule in the next sprint."),
    4: ("Phase 4: polish", "Low and informational: improve when convenient."),
}


@dataclass(frozen=True)
class Score:
    overall: float
    categories: dict[str, float]
    capped: bool

    def to_json(self) -> dict[str, Any]:
        return {"overall": self.overall, "categories": self.categories, "capped": self.capped}


@dataclass(frozen=True)
class PlanItem:
    finding: Finding
    acceptance: str


@dataclass(frozen=True)
class Phase:
    number: int
    title: str
    summary: str
    items: list[PlanItem]

    advice: list[dict[str, Any]] = field(default_factory=list)

    def detailed(self, per_check: int) -> tuple[list[PlanItem], dict[str, list[PlanItem]]]:
        """The first `per_check` items of each check, and the rest grouped by check.

        Documents a person reads show the first ones in full and list the rest compactly;
        JSON and SARIF keep every finding in full.
        """
        shown: list[PlanItem] = []
        rest: dict[str, list[PlanItem]] = {}
        seen: Counter[str] = Counter()
        for item in self.items:
            seen[item.finding.check] += 1
            if seen[item.finding.check] <= per_check:
                shown.append(item)
            else:
                rest.setdefault(item.finding.check, []).append(item)
        return shown, rest


def by_schema(items: list[PlanItem]) -> list[tuple[str, list[PlanItem]]]:
    """Items grouped by the schema their object lives in (largest group first), so a
    repeated finding reads as one line per schema instead of one checkbox per object."""
    groups: dict[str, list[PlanItem]] = {}
    for item in items:
        groups.setdefault(schema_of(item.finding.object), []).append(item)
    return sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))


def schema_of(obj: str) -> str:
    """The schema part of `schema.table ...` (quotes respected); '' for other objects."""
    if obj.startswith('"'):
        end = obj.find('"', 1)
        while end != -1 and obj[end + 1 : end + 2] == '"':
            end = obj.find('"', end + 2)
        return obj[: end + 1] if end != -1 and obj[end + 1 : end + 2] == "." else ""
    head = obj.split(" ", 1)[0]
    return head.split(".", 1)[0] if "." in head else ""


@dataclass(frozen=True)
class Deferred:
    """Findings of one check that cannot be acted on yet, summarised as one line."""

    check: str
    title: str
    reason: str
    findings: list[Finding]

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "reason": self.reason,
            "count": len(self.findings),
            "keys": [f.key for f in self.findings],
        }


@dataclass(frozen=True)
class Report:
    generated_at: str
    target: dict[str, Any]
    score: Score
    findings: list[Finding]
    suppressed: list[Suppressed]
    phases: list[Phase]
    limitations: list[Limitation] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    advisor: dict[str, Any] | None = None
    deferred: list[Deferred] = field(default_factory=list)
    rls: dict[str, Any] | None = None  # the rls-test result (its JSON), when one ran

    def counts(self) -> dict[str, int]:
        """Findings by severity, leaving out the ones that cannot be acted on yet."""
        tally = Counter(f.severity.label for f in self.findings if f.deferred is None)
        return {s.label: tally.get(s.label, 0) for s in sorted(Severity, reverse=True)}

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "prodready",
            "version": __version__,
            "schema": REPORT_SCHEMA,
            "generated_at": self.generated_at,
            "target": self.target,
            "score": self.score.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "suppressed": [
                {"key": s.finding.key, "check": s.finding.check, "reason": s.reason}
                for s in self.suppressed
            ],
            "limitations": [{"area": x.area, "reason": x.reason} for x in self.limitations],
            "check_failures": [{"check": c, "error": e} for c, e in self.failures],
            "advisor": self.advisor,
            "deferred": [d.to_json() for d in self.deferred],
            "rls": self.rls,
        }


def score(findings: list[Finding]) -> Score:
    """Each category starts at 10; overall is their mean, capped at 4.0 by any critical."""
    penalties: dict[str, float] = {c.value: 0.0 for c in Category}
    groups = Counter((f.category.value, f.check, f.severity) for f in findings)
    for (category, _check, severity), count in groups.items():
        penalties[category] += SEVERITY_WEIGHT[severity] * (1 + math.log2(count) / 2)
    categories = {c: round(max(0.0, 10.0 - p), 1) for c, p in penalties.items()}
    overall = round(sum(categories.values()) / len(categories), 1)
    capped = any(f.severity is Severity.CRITICAL for f in findings) and overall > CRITICAL_CAP
    return Score(min(overall, CRITICAL_CAP) if capped else overall, categories, capped)


def acceptance(finding: Finding) -> str:
    """What a person checks to call the item done."""
    rerun = f"`prodready audit` no longer reports `{finding.key}`"
    return f"{finding.verify}; and {rerun}" if finding.verify else rerun


def phases(findings: list[Finding], advisor: dict[str, Any] | None = None) -> list[Phase]:
    """Actionable findings by phase, and each index recommendation in the phase its
    benefit earns; deferred findings go to `deferred()` instead."""
    grouped: dict[int, list[PlanItem]] = {n: [] for n in PHASES}
    for finding in findings:
        if finding.deferred is None:
            grouped[finding.phase].append(PlanItem(finding, acceptance(finding)))
    advice: dict[int, list[dict[str, Any]]] = {n: [] for n in PHASES}
    for rec in (advisor or {}).get("indexes", []):
        advice[advice_phase(rec, advisor or {})].append(rec)
    return [Phase(n, *PHASES[n], items=grouped[n], advice=advice[n]) for n in sorted(PHASES)]


def deferred(findings: list[Finding]) -> list[Deferred]:
    """Findings that cannot be acted on yet, one group per check and reason."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        if finding.deferred is not None:
            groups.setdefault((finding.check, finding.deferred), []).append(finding)
    return [Deferred(c, items[0].title, r, items) for (c, r), items in sorted(groups.items())]


# An index that removes this share of the workload's cost, or speeds up a statement that
# carries this share of it by this factor, is worth doing in the first week.
HIGH_GAIN_SHARE = 0.20
HOT_STATEMENT_SHARE = 0.05
HOT_SPEEDUP = 10.0


def advice_phase(rec: dict[str, Any], advisor: dict[str, Any]) -> int:
    """Phase 2 for a big win (a large share of the workload, or a hot statement made
    many times faster), 3 for a useful one, 4 for the rest."""
    total = float((advisor.get("workload_cost") or {}).get("before") or 0.0)
    benefit = rec.get("benefit") or {}
    gain = float(benefit.get("workload_cost_before", 0)) - float(
        benefit.get("workload_cost_after", 0)
    )
    share = gain / total if total > 0 else 0.0
    hot = False
    for query in rec.get("queries", []):
        before, after = float(query.get("cost_before", 0)), float(query.get("cost_after", 0))
        weight = before * float(query.get("calls", 1) or 1)
        speedup = before / after if after > 0 else 0.0
        if total > 0 and weight / total >= HOT_STATEMENT_SHARE and speedup >= HOT_SPEEDUP:
            hot = True
    if share >= HIGH_GAIN_SHARE or hot:
        return 2
    return 3 if share >= HOT_STATEMENT_SHARE else 4


def target_of(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "database": {
            "name": snapshot.database.name,
            "server_version": snapshot.server.version.split()[1]
            if snapshot.server.version.startswith("PostgreSQL ")
            else str(snapshot.server.version_num),
            "stats_reset": snapshot.database.stats_reset,
            "stats_since": snapshot.stats_since,
            "collected_at": snapshot.server.collected_at,
            "role": snapshot.server.current_user,
        }
    }


def with_surface(
    report: Report | None, run: CheckRun, surface: str, target: dict[str, Any]
) -> Report:
    """The report with another surface's findings (the HTTP probe's, the source scan's)
    folded in: one score, one plan; `target[surface]` says what was looked at."""
    if report is None:
        report = Report(
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            target={},
            score=score([]),
            findings=[],
            suppressed=[],
            phases=phases([]),
        )
    findings = sorted([*report.findings, *run.findings], key=Finding.sort_key)
    return replace(
        report,
        target={**report.target, surface: target},
        score=score(findings),
        findings=findings,
        suppressed=[*report.suppressed, *run.suppressed],
        phases=phases(findings, report.advisor),
        failures=[*report.failures, *run.failures],
        deferred=deferred(findings),
    )


def build_report(
    snapshot: Snapshot, run: CheckRun, advisor: dict[str, Any] | None = None
) -> Report:
    return Report(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        target=target_of(snapshot),
        score=score(run.findings),
        findings=run.findings,
        suppressed=run.suppressed,
        phases=phases(run.findings, advisor),
        limitations=list(snapshot.limitations),
        failures=list(run.failures),
        advisor=advisor,
        deferred=deferred(run.findings),
    )
