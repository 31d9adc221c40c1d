"""Thresholds pass and fail both ways; findings and the JSON contract from hand-built runs."""

from __future__ import annotations

import json

import pytest

from prodready.errors import UsageError
from prodready.load.database import StatementLoad, summarise
from prodready.load.findings import load_findings
from prodready.load.render import render_json, render_markdown
from prodready.load.report import LoadReport
from prodready.load.result import EndpointResult, Latency, LoadRun
from prodready.load.target import resolve_target
from prodready.load.thresholds import (
    evaluate,
    extra_percentiles,
    parse_threshold,
    parse_thresholds,
)

LATENCY = Latency(p50=20.0, p90=80.0, p95=120.0, p99=900.0, max=1500.0, mean=40.0)


def a_run(**changes: object) -> LoadRun:
    fields: dict[str, object] = {
        "target": "http://127.0.0.1:8000/",
        "engine": "prodready",
        "scenario": "smoke",
        "duration_s": 10.0,
        "elapsed_s": 10.2,
        "scheduled": 1000,
        "requests": 990,
        "dropped": 10,
        "errors": 20,
        "errors_by_status": {"500": 15, "timeout": 5},
        "latency": LATENCY,
        "endpoints": (
            EndpointResult("home", "GET", "/", 900, 0, {}, Latency(p95=50.0, p99=60.0)),
            EndpointResult(
                "slow", "GET", "/slow", 90, 20, {"500": 20}, Latency(p95=1000.0, p99=2000.0)
            ),
        ),
        "client_limited": False,
        "extra_percentiles": {"p99.9": 1400.0},
    }
    fields.update(changes)
    return LoadRun(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "ok", "value"),
    [
        ("p95<500ms", True, 120.0),
        ("p95<100ms", False, 120.0),
        ("p99<=0.9s", True, 900.0),
        ("p99<0.9s", False, 900.0),
        ("max<2s", True, 1500.0),
        ("max<1s", False, 1500.0),
        ("p50 > 10ms", True, 20.0),
        ("p50>=30", False, 20.0),
        ("p99.9<1500ms", True, 1400.0),
        ("p99.9<1s", False, 1400.0),
        ("error_rate<3%", True, 2.02),
        ("error_rate<1%", False, 2.02),
        ("error_rate<0.05", True, 2.02),
        ("dropped_rate<=1%", True, 1.0),
        ("dropped_rate<0.5%", False, 1.0),
        ("rps>=95", True, 99.0),
        ("rps>100", False, 99.0),
        ("home: p95<100ms", True, 50.0),
        ("slow: p95<100ms", False, 1000.0),
        ("home: error_rate<1%", True, 0.0),
        ("slow:error_rate<1%", False, 22.222),
    ],
)
def test_thresholds_pass_and_fail(expr: str, ok: bool, value: float) -> None:
    thresholds = parse_thresholds([expr], ["home", "slow"])
    [result] = evaluate(thresholds, a_run())
    assert (result.ok, result.value) == (ok, value)
    assert result.expr == expr.strip()


@pytest.mark.parametrize(
    "expr",
    ["p95", "p95<", "p95 ~ 5ms", "latency<5ms", "p95<5%", "error_rate<5ms", "error_rate<150%",
     "p100<5ms", "rps>5ms", "p95<fast"],
)  # fmt: skip
def test_unparseable_thresholds_are_usage_errors(expr: str) -> None:
    with pytest.raises(UsageError, match="threshold"):
        parse_threshold(expr)


def test_a_threshold_on_an_unknown_endpoint_is_refused() -> None:
    with pytest.raises(UsageError, match="names endpoint 'checkout'"):
        parse_thresholds(["checkout: p95<1s"], ["home"])


def test_nothing_measured_fails() -> None:
    run = a_run(requests=0, errors=0, latency=Latency(), endpoints=())
    results = evaluate(parse_thresholds(["p95<1s", "error_rate<1%"], []), run)
    assert [(r.ok, r.value) for r in results] == [(False, None), (False, None)]


def test_extra_percentiles_are_only_the_unusual_ones() -> None:
    parsed = parse_thresholds(["p95<1s", "p99.9<2s", "p99.99<3s", "max<4s"], [])
    assert extra_percentiles(parsed) == [99.9, 99.99]


def test_achieved_rate_uses_the_time_it_took_to_send() -> None:
    assert a_run().achieved_rps == 99.0
    late = a_run(sending_s=20.0)  # the client needed twice the schedule to send it all
    assert late.achieved_rps == 49.5


def test_the_json_contract() -> None:
    run = a_run()
    results = tuple(evaluate(parse_thresholds(["p95<100ms"], []), run))
    report = LoadReport(run, results, tuple(load_findings(run, results, None)))
    data = json.loads(render_json(report))
    contract = ["target", "engine", "offered_rps", "achieved_rps", "requests", "dropped",
                "errors", "latency_ms", "endpoints", "thresholds", "client_limited"]  # fmt: skip
    assert list(data)[: len(contract)] == contract
    assert data["offered_rps"] == 100.0 and data["achieved_rps"] == 99.0
    assert set(data["latency_ms"]) == {"p50", "p90", "p95", "p99", "max"}
    assert {"name", "requests", "errors", "latency_ms"} <= set(data["endpoints"][1])
    assert data["thresholds"] == [{"expr": "p95<100ms", "ok": False, "value": 120.0}]
    assert data["client_limited"] is False and data["passed"] is False
    checks = [(f["check"], f["severity"]) for f in data["findings"]]
    assert checks == [("load_dropped_requests", "high"), ("load_threshold_failed", "high")]
    markdown = render_markdown(report)
    assert "| `p95<100ms` | 120 | FAIL |" in markdown


def test_client_limited_and_dropped_findings() -> None:
    limited = load_findings(a_run(client_limited=True, send_lag_p99_ms=800.0), [], None)
    assert [f.check for f in limited] == ["load_client_limited"]
    dropped = load_findings(a_run(), [], None)
    assert [f.check for f in dropped] == ["load_dropped_requests"]
    assert load_findings(a_run(dropped=0), [], None) == []


def test_database_deltas_and_their_findings() -> None:
    first_db = ("app", 1000, 10, 5, 0, 0)
    last_db = ("app", 9000, 1010, 905, 3, 1)
    first = {"10:1": ("select 1", 10, 5.0), "10:2": ("select * from orders where id = $1", 0, 0.0)}
    last = {
        "10:1": ("select 1", 110, 15.0),
        "10:2": ("select *  from orders\n where id = $1", 500, 390.0),
        "10:3": ("update t set x = $1", 0, 0.0),
    }
    db = summarise(
        first_db,
        last_db,
        first,
        last,
        samples=10,
        peak=(95, 40, 2),
        max_connections=100,
        waits={"Lock:transactionid": 3},
        limitations=(),
    )
    assert (db.commits, db.rollbacks, db.deadlocks, db.blocks_read) == (900, 3, 1, 1000)
    assert db.cache_hit_ratio == pytest.approx(8000 / 9000)
    assert db.statements[0] == StatementLoad(
        "select * from orders where id = $1", 500, 390.0, 0.975
    )
    assert db.statements_total_ms == 400.0
    findings = {f.check: f for f in load_findings(a_run(dropped=0), [], db)}
    assert findings["load_db_connections"].severity.label == "high"
    assert "95 of 100 connections" in findings["load_db_connections"].detail
    assert findings["load_db_top_statement"].severity.label == "medium"
    assert "98% of database time" in findings["load_db_top_statement"].detail
    assert findings["load_db_cache_hit_ratio"].severity.label == "medium"
    quiet = summarise(first_db, first_db, {}, {}, samples=1, peak=(3, 1, 0),
                      max_connections=100, waits={}, limitations=())  # fmt: skip
    checks = {f.check: f.severity.label for f in load_findings(a_run(dropped=0), [], quiet)}
    assert checks == {"load_db_connections": "info"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "http://localhost:1/x", "http://[::1]:1/"])
def test_loopback_targets_are_allowed(url: str) -> None:
    assert resolve_target(url).port == 1


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://192.168.0.1:8000/", "http://8.8.8.8/"])
def test_other_hosts_need_allow_host(url: str) -> None:
    with pytest.raises(UsageError, match="--allow-host"):
        resolve_target(url)
    host = url.split("//")[1].split(":")[0].split("/")[0]
    assert resolve_target(url, (host,)).host == host  # resolved only; nothing is sent here


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http://:80/", "http://h:x/"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError, match="invalid URL"):
        resolve_target(url)
