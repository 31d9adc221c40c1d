"""verify's data: percentiles, measurements, options, and the baseline JSON round trip."""

from __future__ import annotations

import json

import pytest

from prodready.errors import UsageError
from prodready.verify.explain import PlanRun
from prodready.verify.model import (
    KIND,
    SCHEMA,
    Baseline,
    Buffers,
    Captured,
    Measurement,
    Statement,
    Unrunnable,
    VerifyOptions,
    percentile,
)
from prodready.verify.runner import summarise


def test_percentiles_interpolate_between_ranks() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_measurement_statistics() -> None:
    m = Measurement(runs_ms=(10.0, 12.0, 11.0, 30.0), plan="Seq Scan on public.t")
    assert m.p50_ms == 11.5
    assert m.mean_ms == 15.75
    assert m.p95_ms == pytest.approx(27.3)
    summary = m.summary()
    assert summary == {
        "p50_ms": 11.5,
        "p95_ms": 27.3,
        "mean_ms": 15.75,
        "plan": "Seq Scan on public.t",
        "indexes": [],
        "buffers": {"shared_hit": 0, "shared_read": 0},
        "rows": 0.0,
    }
    assert m.to_json()["min_ms"] == 10.0 and m.to_json()["max_ms"] == 30.0


def run(total: float, signature: str = "Seq Scan on public.t", rows: float = 5) -> PlanRun:
    return PlanRun(0.1, total - 0.1, signature, (), Buffers(10, 2), rows)


def test_summarise_keeps_every_time_and_the_usual_plan() -> None:
    index = "Index Scan using public.t_pkey on public.t"
    m = summarise([run(3.0, index, 1), run(1.0), run(2.0), run(4.0)])
    assert m.runs_ms == (3.0, 1.0, 2.0, 4.0)
    assert m.plan == "Seq Scan on public.t"  # three runs of four used it
    assert m.rows == 5
    assert m.plans_seen == 2
    assert m.planning_ms == 0.1
    with pytest.raises(ValueError):
        summarise([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": 0}, "runs must be at least 1, not 0"),
        ({"warmup": -1}, "warmup must be 0 or more, not -1"),
        ({"statement_timeout_ms": 0}, "the statement timeout must be at least 1 ms"),
        ({"expect_speedup": 0}, "expect_speedup must be a positive factor, not 0"),
        ({"limit": 0}, "limit must be at least 1, not 0"),
    ],
)
def test_options_refuse_nonsense(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        VerifyOptions(**kwargs)  # type: ignore[arg-type]


def sample_baseline() -> Baseline:
    read = Statement(
        id="a1",
        query="SELECT * FROM t WHERE k = $1",
        sql="SELECT * FROM t WHERE k = '4'::integer",
        calls=100,
        role="app",
        settings=(("request.jwt.claim.sub", "42"),),
        name="by_k",
        bind_method="stats",
        bind_note="$1 eq public.t.k",
    )
    write = Statement(id="b2", query="UPDATE t SET n = 1", sql="UPDATE t SET n = 1", calls=2,
                      writes="UPDATE statement")  # fmt: skip
    measured = Measurement((2.0, 3.0, 4.0), "Seq Scan on public.t", (), Buffers(9, 1), 50, 0.2)
    return Baseline(
        created_at="2026-01-01T00:00:00+00:00",
        database="shop",
        server_version="15.4",
        runs=3,
        warmup=1,
        statement_timeout_ms=30_000,
        allow_writes=False,
        statements=(
            Captured(read, "measured", measured),
            Captured(write, "skipped", reason="writes (UPDATE statement): not run"),
        ),
        unrunnable=(Unrunnable("CREATE TABLE x ()", "not a query"),),
        notes=("2 lighter statement(s) left out (limit 2)",),
        version="0.1.0",
    )


def test_baseline_json_round_trip() -> None:
    baseline = sample_baseline()
    data = json.loads(json.dumps(baseline.to_json()))
    assert data["tool"] == "prodready" and data["kind"] == KIND and data["schema"] == SCHEMA
    assert data["statements"][0]["settings"] == {"request.jwt.claim.sub": "42"}
    assert data["statements"][0]["bind"] == {"method": "stats", "note": "$1 eq public.t.k"}
    assert data["statements"][0]["measurement"]["runs_ms"] == [2.0, 3.0, 4.0]
    assert data["weighted_ms"] == 300.0  # 100 calls x 3 ms; the skipped write adds nothing
    assert Baseline.from_json(data) == baseline
    assert baseline.weighted_ms == 300.0
    assert [c.statement.id for c in baseline.measured] == ["a1"]
