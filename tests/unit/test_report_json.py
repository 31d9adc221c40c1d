"""report.json: the DESIGN.md audit contract, with stable formatting and order."""

from __future__ import annotations

import json
import math
from decimal import Decimal

from prodready import __version__
from prodready.model import Category, Severity
from prodready.report import render as render_format
from prodready.report.json_report import render
from tests.unit.test_report_fixtures import (
    HOSTILE_OBJECT,
    empty_report,
    finding,
    make_report,
    sample_report,
)

FINDING_TYPES = {
    "key": str,
    "check": str,
    "severity": str,
    "category": str,
    "object": str,
    "title": str,
    "detail": str,
    "evidence": dict,
    "phase": int,
}


def test_top_level_contract() -> None:
    data = json.loads(render(sample_report()))
    assert list(data)[:7] == [
        "tool",
        "version",
        "schema",
        "generated_at",
        "target",
        "score",
        "findings",
    ]
    assert {"suppressed", "advisor"} <= set(data)
    assert data["tool"] == "prodready" and data["version"] == __version__ and data["schema"] == 1
    assert data["generated_at"] == "2026-01-31T12:00:05+00:00"
    database = data["target"]["database"]
    assert database["name"] == "shop" and database["server_version"] == "15.6"
    assert "stats_reset" in database
    assert data["score"]["overall"] == 4.0
    assert data["score"]["categories"] == {
        "performance": 4.8,
        "security": 0.0,
        "reliability": 3.8,
        "observability": 8.8,
    }
    assert data["advisor"] is None


def test_findings_contract() -> None:
    data = json.loads(render(sample_report()))
    assert len(data["findings"]) == 16
    for f in data["findings"]:
        for key, kind in FINDING_TYPES.items():
            assert isinstance(f[key], kind), (key, f)
        assert f["severity"] in {s.label for s in Severity}
        assert f["category"] in {c.value for c in Category}
        assert f["phase"] == Severity.parse(f["severity"]).phase
        assert f["fix"] is None or {"sql", "rollback_sql"} <= set(f["fix"])
    fk = next(f for f in data["findings"] if f["check"] == "unindexed_foreign_key")
    assert fk["object"] == "public.order_items (order_id)"
    assert fk["evidence"]["table_rows"] == 8_400_000
    assert fk["fix"]["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert fk["fix"]["rollback_sql"] == "DROP INDEX CONCURRENTLY public.order_items_order_id_idx;"
    assert fk["fix"]["transactional"] is False


def test_suppressed_limitations_failures() -> None:
    data = json.loads(render(sample_report()))
    assert data["suppressed"] == [
        {
            "key": "table_without_primary_key:audit.log_2025",
            "check": "table_without_primary_key",
            "reason": "append-only archive partition | never updated",
        },
        {
            "key": "unused_index:public.orders_legacy_idx",
            "check": "unused_index",
            "reason": "used by the month-end report <script>x</script>",
        },
    ]
    assert data["limitations"][0] == {
        "area": "statements",
        "reason": "pg_stat_statements is not installed in database shop",
    }
    assert data["check_failures"] == [
        {"check": "replication_lag", "error": "KeyError: 'replay_lsn'"}
    ]


def test_deterministic_order_and_format() -> None:
    report = sample_report()
    shuffled = make_report(list(reversed(report.findings)), list(reversed(report.suppressed)))
    first = json.loads(render(report))
    second = json.loads(render(shuffled))
    assert [f["key"] for f in first["findings"]] == [f["key"] for f in second["findings"]]
    assert [s["key"] for s in first["suppressed"]] == [s["key"] for s in second["suppressed"]]
    severities = [Severity.parse(f["severity"]) for f in first["findings"]]
    assert severities == sorted(severities, reverse=True)
    text = render(report)
    assert text == render_format(report, "json") and text.endswith("}\n")
    assert text.startswith('{\n  "tool": "prodready",\n  "version"')


def test_unicode_kept_and_hostile_strings_round_trip() -> None:
    text = render(sample_report())
    assert "ü€😀" in text  # ensure_ascii=False
    data = json.loads(text)
    assert HOSTILE_OBJECT in [f["object"] for f in data["findings"]]


def test_non_finite_and_exotic_evidence_is_strict_json() -> None:
    odd = finding(
        "x_check",
        Severity.LOW,
        Category.PERFORMANCE,
        "public.t",
        "T",
        "d",
        {"nan": math.nan, "inf": math.inf, "ratio": Decimal("1.50")},
    )
    text = render(make_report([odd]))
    evidence = json.loads(text, parse_constant=lambda c: c)["findings"][0]["evidence"]
    assert evidence["nan"] is None and evidence["inf"] is None
    assert evidence["ratio"] == "1.50"
    assert "NaN" not in text and "Infinity" not in text


def test_empty_report() -> None:
    data = json.loads(render(empty_report()))
    assert data["findings"] == [] and data["suppressed"] == []
    assert data["score"]["overall"] == 10.0 and data["score"]["capped"] is False
