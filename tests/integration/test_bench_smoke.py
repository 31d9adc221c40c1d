"""The advisor benchmarks run end to end on tiny data: TPC-H SF 0.01, the demo at scale 0.02
and the three web-app workloads at scale 0.02.

Each harness gets a database of the session's test cluster. The advisor part runs when
prodready's engine is importable; the baselines, costs and timings always run.
"""

from __future__ import annotations

import itertools
import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bench import tpch_advisor, webapp_advisor, webapp_workloads
from bench.tpch import advisor, data, whatif
from prodready.demo import WORKLOAD
from prodready.pg.cluster import LocalCluster

TPCH_SCALE = 0.01
TPCH_BUDGETS_MB = (1.0, 3.0)  # two of the paper's budgets at this scale
WEBAPP = webapp_advisor.Config(scale=0.02, calls=200, repeat=2, passes=1)
WORKLOADS = webapp_workloads.Config(scale=0.02, passes=1, bindings=2, replay=0.05)
ADVISED = "feed"  # the advisor's two feeds run on one workload: the smoke stays under 15 s
_names = itertools.count(1)


def _has_tpchgen() -> bool:
    return (Path(sys.executable).parent / "tpchgen-cli").exists() or bool(
        shutil.which("tpchgen-cli")
    )


def _drop(cluster: LocalCluster, name: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def tpch(pg_cluster: LocalCluster) -> Iterator[dict[str, Any]]:
    if not pg_cluster.has_hypopg:
        pytest.skip("the hypopg extension is not installed for this server")
    if not _has_tpchgen():
        pytest.skip("tpchgen-cli is not installed (pip install tpchgen-cli)")
    name = f"bench_tpch_{next(_names)}"
    config = tpch_advisor.Config(
        scale=TPCH_SCALE,
        budgets_mb=TPCH_BUDGETS_MB,
        runtime="largest",
        timeout_s=20,
        runs=1,
        real_budget_multipliers=(1.0,),  # exercises the search; a wider one takes minutes
    )
    try:
        dsn = tpch_advisor.prepare(
            pg_cluster, data.generate(TPCH_SCALE), database=name, log=lambda _m: None
        )
        yield tpch_advisor.run(dsn, config, log=lambda _m: None)
    finally:
        _drop(pg_cluster, name)


@pytest.fixture(scope="module")
def webapp(pg_cluster: LocalCluster) -> Iterator[dict[str, Any]]:
    if not pg_cluster.has_hypopg:
        pytest.skip("the hypopg extension is not installed for this server")
    name = f"bench_webapp_{next(_names)}"
    try:
        app = webapp_advisor.prepare(pg_cluster, WEBAPP, database=name, log=lambda _m: None)
        yield webapp_advisor.run(app, WEBAPP, log=lambda _m: None)
    finally:
        _drop(pg_cluster, name)


def test_tpch_workload_is_the_papers_19_queries(tpch: dict[str, Any]) -> None:
    assert len(tpch["queries"]) == 19
    assert not {"q2", "q17", "q20"} & set(tpch["queries"])
    assert tpch["table_bytes"]["lineitem"] > 1_000_000  # 60k rows were loaded
    assert all(cost > 0 for cost in tpch["no_index_per_query_cost"].values())


def test_tpch_no_index_runtime_covers_every_query(tpch: dict[str, Any]) -> None:
    runtime = tpch["no_index_runtime"]
    assert set(runtime["per_query_s"]) == set(tpch["queries"])
    assert runtime["timed_out"] == []
    assert 0 < runtime["total_s"] < 20


def test_tpch_extend_baseline_fits_its_budget_and_saves(tpch: dict[str, Any]) -> None:
    extend = [o for o in tpch["outcomes"] if o["algorithm"] == "extend-baseline"]
    assert [o["budget_mb"] for o in extend] == list(TPCH_BUDGETS_MB)
    for outcome in extend:
        assert outcome["hypopg_bytes"] <= outcome["budget_mb"] * tpch_advisor.MB
        assert outcome["fits_budget_real"] is True  # HypoPG overestimates B-tree sizes
        assert outcome["definitions"]
        assert outcome["cost_pct"] < 100
    small, large = extend
    assert large["cost_pct"] <= small["cost_pct"]
    assert large["runtime"] is not None and not large["runtime"]["timed_out"]


def test_tpch_extend_with_real_size_budget_fits_on_disk(tpch: dict[str, Any]) -> None:
    name = "extend-baseline (real-size budget)"
    found = [o for o in tpch["outcomes"] if o["algorithm"] == name]
    assert [o["budget_mb"] for o in found] == list(TPCH_BUDGETS_MB)
    assert all(o["fits_budget_real"] is True for o in found)
    assert all(o["hypopg_budget_mb"] == o["budget_mb"] for o in found)  # one multiplier: 1.0


def test_tpch_advisor_recommends_within_budget(tpch: dict[str, Any]) -> None:
    if not advisor.available():
        pytest.skip("prodready.advisor.engine is not importable yet")
    assert "advisor_error" not in tpch, tpch.get("advisor_error")
    ours = [o for o in tpch["outcomes"] if o["algorithm"] == "prodready"]
    assert [o["budget_mb"] for o in ours] == list(TPCH_BUDGETS_MB)
    for outcome in ours:
        assert outcome["cost_pct"] <= 100.0
        assert outcome["whatif_calls"] > 0
        assert outcome["fits_budget_real"] is True
    assert ours[-1]["cost_pct"] < 100


def test_tpch_markdown_has_the_cost_table(tpch: dict[str, Any]) -> None:
    text = tpch_advisor.render_markdown(tpch)
    assert "| 3 MB |" in text
    assert "extend-baseline (HypoPG)" in text
    assert "## Real runtime" in text


def test_workload_sql_carries_weights() -> None:
    statements = [whatif.Statement("q1", "SELECT 1", 2.0)]
    assert tpch_advisor.workload_sql(statements) == "-- name: q1\n-- weight: 2\nSELECT 1;\n"


def test_webapp_times_every_api_query(webapp: dict[str, Any]) -> None:
    assert set(webapp["before"]["per_query"]) == {q.name for q in WORKLOAD}
    assert webapp["before"]["weighted_ms"] > 0
    assert webapp["estimated_cost_before"] > 0
    assert webapp["yardstick_statements"] == len(WORKLOAD) * webapp_advisor.LITERAL_SAMPLES


def test_webapp_advisor_feeds_both_give_recommendations(webapp: dict[str, Any]) -> None:
    if not advisor.available():
        pytest.skip("prodready.advisor.engine is not importable yet")
    assert "advisor_errors" not in webapp, webapp.get("advisor_errors")
    feeds = webapp["feeds"]
    assert set(feeds) == {"literal", "pg_stat_statements"}
    for feed in feeds.values():
        assert feed["statements"] > 0
        assert feed["speedup"] is not None and feed["speedup"] > 0
        assert feed["built"]["failed"] == {}  # every recommended DDL builds
        assert feed["estimated_cost_after"] <= webapp["estimated_cost_before"] * 1.01
    assert "same_indexes" in webapp["comparison"]
    assert "| literal |" in webapp_advisor.render_markdown(webapp)


def test_literal_statements_parse_the_demo_file_format() -> None:
    text = (
        "-- header\n\n-- name: a\n-- role: anon\n-- weight: 3\nSELECT 'x;' FROM t;\n\n"
        "-- name: b\n-- role: service\n-- weight: 1\nUPDATE t SET a = 1;\n"
    )
    parsed = webapp_advisor.literal_statements(text)
    assert [(s.name, s.sql, s.weight) for s in parsed] == [
        ("a#1", "SELECT 'x;' FROM t", 3.0),
        ("b#2", "UPDATE t SET a = 1", 1.0),
    ]


def test_shape_ignores_names_and_concurrently() -> None:
    a = whatif.shape("CREATE INDEX CONCURRENTLY x ON public.t USING btree (a, b DESC)")
    b = whatif.shape('CREATE INDEX ON "t" ("a", "b" DESC)')
    assert a == b == "CREATE INDEX ON t (a, b DESC)"


@pytest.fixture(scope="module")
def workloads(pg_cluster: LocalCluster) -> Iterator[dict[str, Any]]:
    """Every workload in a database of its own, one after the other; the advisor on one."""
    if not pg_cluster.has_hypopg:
        pytest.skip("the hypopg extension is not installed for this server")
    results: dict[str, Any] = {}
    names = []
    try:
        for workload in webapp_workloads.WORKLOADS.values():
            names.append(f"bench_{workload.name}_{next(_names)}")
            config = replace(WORKLOADS, advisor=workload.name == ADVISED)
            loaded = webapp_workloads.prepare(
                pg_cluster, workload, config, database=names[-1], log=lambda _m: None
            )
            results[workload.name] = webapp_workloads.run(
                loaded, workload, config, log=lambda _m: None
            )
        yield {"workloads": results, "summary": webapp_workloads.summarise(results)}
    finally:
        for name in names:
            _drop(pg_cluster, name)


def test_workloads_time_every_statement_under_every_set(workloads: dict[str, Any]) -> None:
    for name, result in workloads["workloads"].items():
        queries = webapp_workloads.WORKLOADS[name].queries
        assert set(result["statements"]) == {q.name for q in queries}
        none, hand = result["sets"]["none"], result["sets"]["hand"]
        assert none["bytes"] == 0 and none["weighted_ms"] > 0
        assert hand["built"]["failed"] == {} and hand["bytes"] > 0
        for entry in result["sets"].values():
            for timing in entry["statements"].values():
                assert len(timing["binding_ms"]) == WORKLOADS.bindings
                assert timing["plans"]


def test_workloads_advisor_feeds_build(workloads: dict[str, Any]) -> None:
    if not advisor.available():
        pytest.skip("prodready.advisor.engine is not importable yet")
    result = workloads["workloads"][ADVISED]
    assert "advisor_errors" not in result, result.get("advisor_errors")
    for feed in ("prodready-literal", "prodready-pgss"):
        entry = result["sets"][feed]
        assert entry["built"]["failed"] == {}  # every recommended DDL builds
        assert entry["advisor"]["wall_s"] > 0
        # the harness's own reset call is not part of the app's workload
        assert not any("stat_statements" in b["sql"] for b in entry["advisor"]["bound"])


def test_workloads_markdown_has_every_table(workloads: dict[str, Any]) -> None:
    text = webapp_workloads.render_markdown(
        webapp_workloads.header(WORKLOADS) | workloads | {"server_version": "15"}
    )
    for name in webapp_workloads.WORKLOADS:
        assert f"## {name}:" in text
    assert "| hand |" in text and "## Summary" in text


def test_plan_shape_is_one_line() -> None:
    plan = {
        "Node Type": "Limit",
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Scan Direction": "Backward",
                "Index Name": "t_a_idx",
                "Relation Name": "t",
            }
        ],
    }
    assert webapp_workloads.plan_shape(plan) == "Limit > Index Scan Backward using t_a_idx on t"


def test_hand_index_ddl_quotes_identifiers() -> None:
    index = webapp_workloads.HandIndex("events", ("source_id", "external_id"), unique=True)
    assert index.ddl() == ('CREATE UNIQUE INDEX ON "public"."events" ("source_id", "external_id")')
