"""report.sarif: SARIF 2.1.0 structure, checked by hand (the JSON schema is not offline)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prodready import __version__, registry
from prodready.model import Category, CheckInfo, Severity
from prodready.report.sarif import FINGERPRINT, object_kind, render
from tests.unit.test_report_fixtures import HOSTILE_OBJECT, empty_report, sample_report

LEVELS = {"none", "note", "warning", "error"}


def sarif(report: Any) -> dict[str, Any]:
    return json.loads(render(report))


def assert_valid_sarif(log: dict[str, Any]) -> None:
    """The required properties of SARIF 2.1.0 that consumers rely on."""
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "prodready" and driver["version"] == __version__
    assert "informationUri" not in driver
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["name"][0].isupper()
        assert rule["defaultConfiguration"]["level"] in LEVELS
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in LEVELS and result["kind"] == "fail"
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        (location,) = result["locations"]
        (logical,) = location["logicalLocations"]
        assert logical["name"] and logical["fullyQualifiedName"]
        assert result["partialFingerprints"][FINGERPRINT]
        for suppression in result.get("suppressions", []):
            assert suppression["kind"] in {"inSource", "external"}
    assert isinstance(run["invocations"][0]["executionSuccessful"], bool)


def test_structure_is_valid() -> None:
    assert_valid_sarif(sarif(sample_report()))
    assert_valid_sarif(sarif(empty_report()))


def test_rules_are_the_checks_that_appear() -> None:
    report = sample_report()
    rules = sarif(report)["runs"][0]["tool"]["driver"]["rules"]
    expected = {f.check for f in report.findings} | {s.finding.check for s in report.suppressed}
    assert [r["id"] for r in rules] == sorted(expected)
    fk = next(r for r in rules if r["id"] == "unindexed_foreign_key")
    assert fk["name"] == "UnindexedForeignKey"
    assert fk["shortDescription"]["text"] == "Foreign key without an index"
    assert fk["properties"]["category"] == "performance"
    assert "security-severity" not in fk["properties"]
    rls = next(r for r in rules if r["id"] == "rls_disabled")
    assert rls["defaultConfiguration"]["level"] == "error"
    assert rls["properties"]["security-severity"] == "9.5"
    assert rls["properties"]["tags"] == ["security", "postgresql"]


def test_rule_metadata_comes_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    info = CheckInfo(
        "unused_index",
        "Unused index",
        Category.PERFORMANCE,
        Severity.LOW,
        "Why it matters: bloat.\n\nHow to fix: drop it concurrently.",
    )
    monkeypatch.setitem(registry._CATALOG, "unused_index", registry.Check(info, lambda s, o: []))
    rules = sarif(sample_report())["runs"][0]["tool"]["driver"]["rules"]
    rule = next(r for r in rules if r["id"] == "unused_index")
    assert rule["shortDescription"]["text"] == "Unused index"
    assert rule["fullDescription"]["text"] == "Why it matters: bloat."
    assert rule["help"]["text"].endswith("How to fix: drop it concurrently.")
    assert rule["defaultConfiguration"]["level"] == "note"  # the check's default: low


def test_results_levels_locations_and_fingerprints() -> None:
    report = sample_report()
    results = sarif(report)["runs"][0]["results"]
    assert len(results) == len(report.findings) + len(report.suppressed)
    by_key = {r["partialFingerprints"][FINGERPRINT]: r for r in results}
    assert set(by_key) == {f.key for f in report.findings} | {
        s.finding.key for s in report.suppressed
    }
    expected = {
        "critical": "error",
        "high": "error",
        "medium": "warning",
        "low": "note",
        "info": "note",
    }
    for f in report.findings:
        assert by_key[f.key]["level"] == expected[f.severity.label]
    fk = by_key["unindexed_foreign_key:public.order_items (order_id)"]
    assert fk["locations"][0]["logicalLocations"][0] == {
        "name": "public.order_items (order_id)",
        "fullyQualifiedName": "public.order_items (order_id)",
        "kind": "table",
    }
    assert fk["message"]["text"].startswith("Foreign key without an index: public.order_items")
    assert fk["properties"]["fix"]["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert fk["properties"]["phase"] == 2
    hostile = by_key[f"unused_index:{HOSTILE_OBJECT}"]
    assert hostile["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == HOSTILE_OBJECT
    assert hostile["locations"][0]["logicalLocations"][0]["kind"] == "index"


def test_suppressed_findings_carry_their_justification() -> None:
    results = sarif(sample_report())["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [(r["partialFingerprints"][FINGERPRINT], r["suppressions"]) for r in suppressed] == [
        (
            "table_without_primary_key:audit.log_2025",
            [
                {
                    "kind": "external",
                    "justification": "append-only archive partition | never updated",
                }
            ],
        ),
        (
            "unused_index:public.orders_legacy_idx",
            [
                {
                    "kind": "external",
                    "justification": "used by the month-end report <script>x</script>",
                }
            ],
        ),
    ]
    assert all("suppressions" not in r for r in results[: len(results) - 2])


def test_failures_and_limitations_are_notifications() -> None:
    invocation = sarif(sample_report())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    failed = "check replication_lag failed: KeyError: 'replay_lsn'"
    assert notes[0] == {
        "level": "error",
        "descriptor": {"id": "replication_lag"},
        "message": {"text": failed},
    }
    blind = "could not see roles: permission denied for table pg_authid"
    assert {"level": "warning", "message": {"text": blind}} in notes


def test_empty_report_has_no_results_and_succeeds() -> None:
    run = sarif(empty_report())["runs"][0]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["properties"]["score"]["overall"] == 10.0


@pytest.mark.parametrize(
    ("check_id", "kind"),
    [
        ("unused_index", "index"),
        ("duplicate_indexes", "index"),
        ("unindexed_foreign_key", "table"),
        ("table_without_primary_key", "table"),
        ("security_definer_search_path", "function"),
        ("rls_disabled", "table"),
        ("superuser_application_role", "role"),
        ("missing_statement_timeout", None),
        ("slow_query", None),
    ],
)
def test_object_kind(check_id: str, kind: str | None) -> None:
    assert object_kind(check_id) == kind
