"""Score and phases: the arithmetic users read first must be exactly as documented."""

from __future__ import annotations

import math

from prodready.model import Category, Finding, Severity
from prodready.registry import CheckRun
from prodready.report.plan import acceptance, build_report, phases, score
from tests import factories as f


def finding(check: str, severity: Severity, category: Category, obj: str = "public.t") -> Finding:
    return Finding(
        key=f"{check}:{obj}", check=check, severity=severity, category=category, object=obj,
        title=check, detail="d", evidence={}, fix=None,
    )  # fmt: skip


def test_perfect_score_without_findings() -> None:
    result = score([])
    assert result.overall == 10.0 and not result.capped
    assert set(result.categories) == {c.value for c in Category}


def test_penalties_by_severity_and_log_repeats() -> None:
    one_high = score([finding("a", Severity.HIGH, Category.SECURITY)])
    assert one_high.categories["security"] == 7.5
    four_medium = [finding("b", Severity.MEDIUM, Category.PERFORMANCE, f"t{i}") for i in range(4)]
    assert score(four_medium).categories["performance"] == round(10 - (1 + math.log2(4) / 2), 1)
    assert score([finding("c", Severity.INFO, Category.RELIABILITY)]).overall == 10.0


def test_any_critical_caps_overall_at_four() -> None:
    result = score([finding("a", Severity.CRITICAL, Category.SECURITY)])
    assert result.categories["security"] == 5.0
    assert result.overall == 4.0 and result.capped


def test_categories_never_go_below_zero() -> None:
    many = [finding(f"c{i}", Severity.CRITICAL, Category.SECURITY) for i in range(5)]
    assert score(many).categories["security"] == 0.0


def test_phases_group_by_severity_with_acceptance() -> None:
    findings = [
        finding("a", Severity.CRITICAL, Category.SECURITY),
        finding("b", Severity.HIGH, Category.SECURITY),
        finding("c", Severity.MEDIUM, Category.PERFORMANCE),
        finding("d", Severity.LOW, Category.PERFORMANCE),
        finding("e", Severity.INFO, Category.OBSERVABILITY),
    ]
    grouped = {p.number: [i.finding.check for i in p.items] for p in phases(findings)}
    assert grouped == {1: ["a"], 2: ["b"], 3: ["c"], 4: ["d", "e"]}
    assert "`prodready audit` no longer reports `a:public.t`" in acceptance(findings[0])


def test_report_json_has_the_contract_keys() -> None:
    snap = f.snapshot()
    run = CheckRun(findings=[finding("a", Severity.HIGH, Category.SECURITY)])
    data = build_report(snap, run).to_json()
    assert {"tool", "version", "schema", "generated_at", "target", "score", "findings",
            "suppressed", "advisor"} <= set(data)  # fmt: skip
    assert data["tool"] == "prodready" and data["schema"] == 1
    assert data["target"]["database"]["name"] == "app"
    assert data["findings"][0]["phase"] == 2 and data["findings"][0]["severity"] == "high"


def test_advice_phase_follows_the_benefit() -> None:
    from prodready.report.plan import advice_phase

    def rec(before: float, after: float, queries: list[dict[str, float]]) -> dict[str, object]:
        benefit = {"workload_cost_before": before, "workload_cost_after": after}
        return {"benefit": benefit, "queries": queries}

    advisor = {"workload_cost": {"before": 1000.0, "after": 500.0}}
    assert advice_phase(rec(1000, 700, []), advisor) == 2  # 30% of the workload
    assert advice_phase(rec(1000, 900, []), advisor) == 3  # 10%
    assert advice_phase(rec(1000, 990, []), advisor) == 4  # 1%
    # a hot statement (8% of the workload) made 100x faster is a first-week item
    hot = [{"calls": 8.0, "cost_before": 10.0, "cost_after": 0.1}]
    assert advice_phase(rec(1000, 960, hot), advisor) == 2
    cold = [{"calls": 1.0, "cost_before": 10.0, "cost_after": 0.1}]  # 1% of the workload
    assert advice_phase(rec(1000, 990, cold), advisor) == 4
    assert advice_phase(rec(0, 0, []), {}) == 4
