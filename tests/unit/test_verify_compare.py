"""Comparing a baseline with its replay: speedups, plan changes, regressions, the verdict."""

from __future__ import annotations

import json

import pytest

from prodready.verify import (
    Baseline,
    Captured,
    Measurement,
    Statement,
    VerifyOptions,
    compare,
    render_baseline_markdown,
    render_baseline_terminal,
    render_json,
    render_markdown,
    render_terminal,
)
from prodready.verify.compare import is_regression

SEQ = "Seq Scan on public.orders"
BUYER_IDX = ("public.orders_buyer_idx",)
PKEY = ("public.orders_pkey",)
INDEXED = "Index Scan using public.orders_buyer_idx on public.orders"


def m(
    *runs: float, plan: str = SEQ, indexes: tuple[str, ...] = (), rows: float = 10
) -> Measurement:
    return Measurement(runs_ms=runs, plan=plan, indexes=indexes, rows=rows)


def st(id: str, calls: float = 1, name: str | None = None) -> Statement:
    return Statement(id=id, query=f"SELECT {id} FROM orders", sql=f"SELECT {id} FROM orders",
                     calls=calls, name=name or id)  # fmt: skip


def baseline(*captured: Captured) -> Baseline:
    return Baseline("2026-01-01T00:00:00+00:00", "shop", "15.4", 3, 1, 30_000, False, captured)


def measured(statement: Statement, measurement: Measurement) -> Captured:
    return Captured(statement, "measured", measurement)


SLOW = st("slow", calls=100)
STEADY = st("steady", calls=10)


def test_speedups_plan_changes_and_the_weighted_total() -> None:
    base = baseline(
        measured(SLOW, m(10.0, 12.0, 11.0)),
        measured(STEADY, m(1.0, 1.0, 1.0, plan=INDEXED, indexes=PKEY)),
    )
    replay = {
        "slow": measured(SLOW, m(0.5, 0.4, 0.6, plan=INDEXED, indexes=BUYER_IDX)),
        "steady": measured(STEADY, m(1.05, 0.95, 1.0, plan=INDEXED, indexes=PKEY)),
    }
    result = compare(base, replay, VerifyOptions(expect_speedup=10))
    slow, steady = result.statements
    assert slow.speedup == pytest.approx(11.0 / 0.5)
    assert slow.plan_changed is True
    assert slow.indexes_added == ["public.orders_buyer_idx"]
    assert slow.indexes_removed == []
    assert steady.speedup == pytest.approx(1.0)
    assert steady.plan_changed is False and not steady.regression
    # weighted by calls x mean: (100 x 11 + 10 x 1) / (100 x 0.5 + 10 x 1)
    assert result.weighted_before_ms == pytest.approx(1110.0)
    assert result.weighted_after_ms == pytest.approx(60.0)
    assert result.speedup == pytest.approx(18.5)
    assert result.passed and result.reasons == []

    data = render_json(result)
    json.dumps(data, allow_nan=False)
    assert data["weighted"] == {
        "before_ms": 1110.0,
        "after_ms": 60.0,
        "speedup": 18.5,
        "statements": 2,
    }
    assert data["expect_speedup"] == 10 and data["passed"] is True
    first = data["statements"][0]
    assert first["before"] == {
        "p50_ms": 11.0,
        "p95_ms": 11.9,
        "mean_ms": 11.0,
        "plan": SEQ,
        "indexes": [],
        "buffers": {"shared_hit": 0, "shared_read": 0},
        "rows": 10,
    }
    assert first["after"]["p50_ms"] == 0.5
    assert first["speedup"] == 22.0
    assert first["plan_changed"] is True and first["regression"] is False
    assert first["indexes_added"] == ["public.orders_buyer_idx"]
    assert {"id", "query", "role", "calls", "before", "after"} <= set(first)


def test_below_the_target_fails() -> None:
    base = baseline(measured(SLOW, m(10.0)))
    result = compare(base, {"slow": measured(SLOW, m(6.0))}, VerifyOptions(expect_speedup=2))
    assert result.speedup == pytest.approx(10 / 6)
    assert not result.passed
    assert result.reasons == ["weighted speedup 1.67x is below the 2x target"]
    assert "FAIL: weighted speedup 1.67x is below the 2x target" in render_terminal(result)


@pytest.mark.parametrize(
    ("before", "after", "regressed"),
    [
        (1.0, 1.3, True),  # 1.3x and +0.3 ms
        (1.0, 1.15, False),  # within the 1.2x noise ratio
        (0.05, 0.12, False),  # 2.4x, but only +0.07 ms: noise for a sub-millisecond query
        (0.05, 0.2, True),  # 4x and +0.15 ms
        (10.0, 9.0, False),  # faster
    ],
)
def test_regressions_need_both_margins(before: float, after: float, regressed: bool) -> None:
    assert is_regression(m(before), m(after), VerifyOptions()) is regressed


def test_a_regression_is_flagged_and_fails_only_when_asked() -> None:
    base = baseline(measured(SLOW, m(10.0)), measured(STEADY, m(1.0)))
    replay = {"slow": measured(SLOW, m(1.0)), "steady": measured(STEADY, m(3.0))}
    result = compare(base, replay, VerifyOptions(expect_speedup=2))
    steady = result.statements[1]
    assert steady.regression and result.regressions == [steady]
    assert result.passed  # the workload met its target; the regression is flagged
    assert "REGRESSION" in render_terminal(result, width=200)
    assert render_json(result)["regressions"] == 1
    strict = compare(base, replay, VerifyOptions(expect_speedup=2, fail_on_regression=True))
    assert strict.reasons == ["1 statement(s) got slower"]


def test_failed_skipped_and_unmeasured_statements() -> None:
    broken, write, never = st("broken", 5), st("write", 5), st("never", 5)
    base = baseline(
        measured(SLOW, m(4.0)),
        measured(broken, m(2.0)),
        measured(write, m(1.0)),
        Captured(never, "failed", reason="permission denied for table orders"),
    )
    replay = {
        "slow": measured(SLOW, m(2.0)),
        "broken": Captured(broken, "failed", reason='column "note" does not exist'),
        "write": Captured(write, "skipped", reason="writes (UPDATE statement): not run"),
    }
    result = compare(base, replay)
    outcomes = {r.statement.id: (r.status, r.reason) for r in result.statements}
    assert outcomes == {
        "slow": ("compared", None),
        "broken": ("failed", 'column "note" does not exist'),
        "write": ("skipped", "writes (UPDATE statement): not run"),
        "never": (
            "skipped",
            "not measured in the baseline: permission denied for table orders",
        ),
    }
    # only statements measured both times count in the weighted total
    assert result.weighted_before_ms == 400.0 and result.weighted_after_ms == 200.0
    assert result.reasons == ["1 statement(s) that ran before fail now"]
    data = render_json(result)
    broken_json = data["statements"][1]
    assert broken_json["after"] is None and broken_json["speedup"] is None
    assert broken_json["plan_changed"] is None


def test_nothing_compared_does_not_pass() -> None:
    result = compare(baseline(measured(SLOW, m(1.0))), {})
    assert result.statements[0].reason == "not replayed"
    assert result.reasons == ["no statement could be compared"]
    assert result.speedup is None
    assert render_json(result)["weighted"]["speedup"] is None


def test_terminal_and_markdown_show_the_numbers() -> None:
    base = baseline(measured(SLOW, m(9.0, 10.0, 11.0)), measured(STEADY, m(0.04, 0.05, 0.06)))
    replay = {
        "slow": measured(SLOW, m(0.2, 0.25, 0.3, plan=INDEXED, indexes=BUYER_IDX)),
        "steady": measured(STEADY, m(0.05, 0.05, 0.05)),
    }
    result = compare(base, replay, VerifyOptions(expect_speedup=5))
    text = render_terminal(result, width=200)
    assert "10.00 → 0.250" in text  # p50 before → after, in ms
    assert "40.0x" in text
    assert "now uses public.orders_buyer_idx" in text
    assert f"before: {SEQ}" in text and f"after:  {INDEXED}" in text
    assert "PASS (target 5x)" in text
    md = render_markdown(result)
    assert "| `slow` | 100 | 10.00 ms | 0.250 ms | 10.90 ms | 0.295 ms | 40.0x | changed |" in md
    assert "## Plans that changed" in md


def test_user_text_cannot_break_the_views() -> None:
    nasty = Statement("x", "SELECT 1 | 2 -- `\x1b[31m", "SELECT 1", 1)
    base = baseline(measured(nasty, m(1.0, plan="Seq Scan on public.a|b")))
    result = compare(base, {"x": measured(nasty, m(1.0))})
    assert "\x1b" not in render_terminal(result) and "\\x1b" in render_terminal(result)
    md = render_markdown(result)
    assert "\x1b" not in md and "1 \\| 2" in md and "`\\x1b" not in md


def test_baseline_views() -> None:
    base = baseline(
        measured(SLOW, m(2.0, 3.0, 4.0)),
        Captured(STEADY, "skipped", reason="writes (UPDATE statement): not run"),
    )
    text = render_baseline_terminal(base, width=200)
    assert "1 of 2 statements measured on shop" in text
    assert "skipped: writes (UPDATE statement): not run" in text
    assert "weighted workload 300 ms" in text
    md = render_baseline_markdown(base)
    assert "| `slow` | - | 100 | 3.00 ms | 3.90 ms | 3.00 ms | Seq Scan on public.orders |" in md
