"""A load test's report: the run, its thresholds, the database under load, and findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prodready import __version__
from prodready.load.database import DatabaseUnderLoad
from prodready.load.result import LoadRun
from prodready.load.thresholds import ThresholdResult
from prodready.model import Finding


@dataclass(frozen=True)
class LoadReport:
    run: LoadRun
    thresholds: tuple[ThresholdResult, ...]
    findings: tuple[Finding, ...] = ()
    database: DatabaseUnderLoad | None = None

    @property
    def passed(self) -> bool:
        return all(t.ok for t in self.thresholds)

    def to_json(self) -> dict[str, Any]:
        """The issue's contract first; everything after `client_limited` is an extension."""
        run = self.run
        return {
            "target": run.target,
            "engine": run.engine,
            "offered_rps": round(run.offered_rps, 3),
            "achieved_rps": round(run.achieved_rps, 3),
            "requests": run.requests,
            "dropped": run.dropped,
            "errors": run.errors,
            "latency_ms": run.latency.to_json(),
            "endpoints": [e.to_json() for e in run.endpoints],
            "thresholds": [t.to_json() for t in self.thresholds],
            "client_limited": run.client_limited,
            "tool": "prodready",
            "version": __version__,
            "scenario": run.scenario,
            "duration_s": run.duration_s,
            "elapsed_s": run.elapsed_s,
            "scheduled": run.scheduled,
            "error_rate": round(run.error_rate, 6),
            "errors_by_status": dict(sorted(run.errors_by_status.items())),
            "send_lag_p99_ms": run.send_lag_p99_ms,
            "connections": run.max_connections,
            "interrupted": run.interrupted,
            "passed": self.passed,
            "timeline": [p.to_json() for p in run.timeline],
            "database": None if self.database is None else self.database.to_json(),
            "findings": [_finding_json(f) for f in self.findings],
        }


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "key": finding.key,
        "check": finding.check,
        "severity": finding.severity.label,
        "category": finding.category.value,
        "object": finding.object,
        "title": finding.title,
        "detail": finding.detail,
        "evidence": finding.evidence,
        "fix": None,
        "phase": finding.phase,
    }
