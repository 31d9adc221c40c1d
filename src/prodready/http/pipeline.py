"""`prodready probe` as a story: send the bounded requests, run the checks, summarise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prodready.http.collect import ProbeOptions, probe
from prodready.http.model import ProbeSnapshot
from prodready.http.observatory import observatory
from prodready.model import Finding
from prodready.registry import catalog, run_checks
from prodready.report.plan import score

# Judged only over HTTPS: on plain HTTP they are not the app's failure.
HTTPS_ONLY = {
    "hsts_missing": "the target is plain http: HSTS applies only over https",
    "https_redirect_missing": "the target is plain http: judged only when it serves https",
    "tls_certificate_invalid": "the target is plain http: no certificate to check",
    "tls_certificate_expiring": "the target is plain http: no certificate to check",
}


@dataclass
class ProbeResult:
    snapshot: ProbeSnapshot
    findings: list[Finding]
    passed: list[str]
    not_applicable: dict[str, str]

    def rate_limits(self) -> list[dict[str, Any]]:
        """The login's limit: requests it answered before the first 429, and what the 429 said."""
        login = self.snapshot.login
        if not login:
            return []
        method, _, path = login.partition(" ")
        sent = [
            e for e in self.snapshot.exchanges if e.method == method and e.path == path and e.status
        ]
        first = next((i for i, e in enumerate(sent) if e.status == 429), None)
        if first is None:
            return []
        limited = sent[first]
        headers = {
            k: v
            for k, v in limited.headers
            if k.lower().startswith(("retry-after", "ratelimit", "x-ratelimit"))
        }
        return [
            {
                "endpoint": login,
                "limit": first,
                "window_s": None,
                "retry_after": limited.header("retry-after"),
                "headers": headers,
            }
        ]

    def to_json(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "target": snap.target,
            "requests_sent": len(snap.exchanges),
            "elapsed_s": snap.elapsed_s,
            "findings": [
                {
                    "check": f.check,
                    "severity": f.severity.label,
                    "object": f.object,
                    "title": f.title,
                    "detail": f.detail,
                    "evidence": f.evidence,
                    "fix": f.evidence.get("fix"),
                }
                for f in self.findings
            ],
            "passed": [{"check": c, "evidence": "no finding"} for c in self.passed],
            "not_applicable": [{"check": c, "reason": r} for c, r in self.not_applicable.items()],
            "rate_limits": self.rate_limits(),
            "observatory": observatory(snap),
            "score": score(self.findings).overall,
            "notes": snap.notes,
        }


def run_probe(target: str, options: ProbeOptions | None = None) -> ProbeResult:
    snapshot = probe(target, options)
    run = run_checks(snapshot)
    checks = [c.info.id for c in catalog() if c.info.surface == "http"]
    flagged = {f.check for f in run.findings}
    not_applicable = {} if snapshot.https else dict(HTTPS_ONLY)
    passed = [c for c in checks if c not in flagged and c not in not_applicable]
    return ProbeResult(snapshot, run.findings, passed, not_applicable)
