"""report.sarif: SARIF 2.1.0 for code-scanning dashboards.

Findings are about database objects, not files, so each result carries a logical location
(the schema-qualified object) and the stable finding key as its fingerprint. Suppressed
findings stay in the log as results with an external suppression and its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prodready import __version__, registry
from prodready.model import Finding, Severity
from prodready.report.catalog import first_paragraph
from prodready.report.json_report import PRETTY_LIMIT, dumps
from prodready.report.plan import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "prodreadyKey/v1"
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub's bands: critical >= 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
}
# Words in a check id that say what kind of object it reports, most specific first.
_OBJECT_KINDS = (
    ("index", "index"),
    ("indexes", "index"),
    ("function", "function"),
    ("functions", "function"),
    ("definer", "function"),
    ("policy", "policy"),
    ("sequence", "sequence"),
    ("view", "view"),
    ("role", "role"),
    ("table", "table"),
    ("tables", "table"),
    ("rls", "table"),
    ("foreign", "table"),
    ("primary", "table"),
)


T = TypeVar("T")


# -- pieces every prodready SARIF log shares (the audit's and the migration lint's) --


def sarif_log(run: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def tool(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "driver": {
            "name": "prodready",
            "version": __version__,
            "semanticVersion": __version__,
            "rules": rules,
        }
    }


def first_per_rule(items: Iterable[T], rule_of: Callable[[T], str]) -> list[tuple[str, T]]:
    """Each rule id that appears, sorted, with its first item (which describes the rule)."""
    first: dict[str, T] = {}
    for item in items:
        first.setdefault(rule_of(item), item)
    return sorted(first.items(), key=lambda pair: pair[0])


def rule_descriptor(
    rule_id: str, separator: str, title: str, description: str, level: str
) -> dict[str, Any]:
    """A reportingDescriptor; `name` is the id in PascalCase, split on `separator`."""
    return {
        "id": rule_id,
        "name": "".join(word.capitalize() for word in rule_id.split(separator)),
        "shortDescription": {"text": title},
        "fullDescription": {"text": first_paragraph(description) or title},
        "help": {"text": description or title},
        "defaultConfiguration": {"level": level},
    }


def render(report: Report) -> str:
    entries: list[tuple[Finding, str | None]] = [(f, None) for f in report.findings]
    entries += [(s.finding, s.reason) for s in report.suppressed]
    entries.sort(key=lambda e: (e[1] is not None, *e[0].sort_key(), e[0].key))
    rules = _rules([f for f, _ in entries])
    index = {rule["id"]: n for n, rule in enumerate(rules)}
    run = {
        "tool": tool(rules),
        "invocations": [_invocation(report)],
        "results": [_result(f, reason, index) for f, reason in entries],
        "properties": {
            "generatedAt": report.generated_at,
            "target": report.target,
            "score": report.score.to_json(),
        },
    }
    return dumps(sarif_log(run), pretty=len(entries) <= PRETTY_LIMIT)


def _rules(findings: list[Finding]) -> list[dict[str, Any]]:
    """One rule per check that appears, described from the catalog when it is registered."""
    return [_rule(check_id, f) for check_id, f in first_per_rule(findings, lambda f: f.check)]


def _rule(check_id: str, example: Finding) -> dict[str, Any]:
    registered = registry.get(check_id)
    info = registered.info if registered else None
    title = info.title if info else example.title
    description = info.description if info else example.title
    severity = info.severity if info else example.severity
    category = (info.category if info else example.category).value
    # The "security" tag (the category) plus security-severity rank it as a security alert.
    properties: dict[str, Any] = {"category": category, "tags": [category, "postgresql"]}
    if category == "security" and severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    descriptor = rule_descriptor(check_id, "_", title, description, LEVEL[severity])
    return descriptor | {"properties": properties}


def _result(finding: Finding, reason: str | None, index: dict[str, int]) -> dict[str, Any]:
    location: dict[str, Any] = {"name": finding.object, "fullyQualifiedName": finding.object}
    kind = object_kind(finding.check)
    if kind:
        location["kind"] = kind
    result: dict[str, Any] = {
        "ruleId": finding.check,
        "ruleIndex": index[finding.check],
        "kind": "fail",
        "level": LEVEL[finding.severity],
        "message": {"text": f"{finding.title}: {finding.object}. {finding.detail}"},
        "locations": [{"logicalLocations": [location]}],
        "partialFingerprints": {FINGERPRINT: finding.key},
        "properties": {
            "severity": finding.severity.label,
            "category": finding.category.value,
            "phase": finding.phase,
            "evidence": finding.evidence,
            "fix": finding.fix.to_json() if finding.fix else None,
            "verify": finding.verify,
        },
    }
    source = finding.evidence.get("file") if isinstance(finding.evidence, dict) else None
    if isinstance(source, str):
        # a source-scan finding (audit --repo): a file and line code scanning can annotate
        physical: dict[str, Any] = {"artifactLocation": {"uri": source, "uriBaseId": "SRCROOT"}}
        if isinstance(finding.evidence.get("line"), int):
            physical["region"] = {"startLine": finding.evidence["line"]}
        result["locations"] = [{"physicalLocation": physical}]
    if reason is not None:
        result["suppressions"] = [{"kind": "external", "justification": reason}]
    return result


def _invocation(report: Report) -> dict[str, Any]:
    """Failed checks as errors, blind spots as warnings: the log says what it did not cover."""
    notes: list[dict[str, Any]] = [
        {
            "level": "error",
            "message": {"text": f"check {check_id} failed: {error}"},
            "descriptor": {"id": check_id},
        }
        for check_id, error in report.failures
    ]
    notes += [
        {"level": "warning", "message": {"text": f"could not see {x.area}: {x.reason}"}}
        for x in report.limitations
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not report.failures}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def object_kind(check_id: str) -> str | None:
    """The kind of database object a check reports, when its id says so."""
    words = set(check_id.split("_"))
    return next((kind for word, kind in _OBJECT_KINDS if word in words), None)
