"""Reading Locust's CSV statistics back, and the generated locustfile's pacing (no Locust run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from prodready.load.locust import _reason, read_stats
from prodready.load.locustfile import locust_plan, render_locustfile
from prodready.load.scenario import Endpoint, Scenario, Stage
from prodready.load.target import Target

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
SCENARIO = Scenario(
    name="two",
    endpoints=(Endpoint("home", "/"), Endpoint("broken", "/status/${code}", weight=0.5)),
    stages=(Stage(10.0, 20.0),),
    variables={"code": ("500",)},
)
TARGET = Target("http://127.0.0.1:9/", "http", "127.0.0.1", 9, "/", "127.0.0.1")


@pytest.mark.parametrize(
    ("error", "key"),
    [
        ("BadStatusCode('http://127.0.0.1:9/status/500', code=500)", "500"),
        ("HTTPError('404 Client Error: Not Found for url: /x')", "404"),
        ("ConnectionRefusedError(111, 'Connection refused')", "refused"),
        ("timeout('timed out')", "timeout"),
        ("ConnectionResetError(104, 'Connection reset by peer')", "reset"),
        ("SSLError('wrong version number')", "tls"),
        ("ValueError('something else')", "error"),
    ],
)
def test_locust_errors_become_statuses(error: str, key: str) -> None:
    assert _reason(error) == key


def test_stats_csv_becomes_a_run(tmp_path: Path) -> None:
    prefix = tmp_path / "stats"
    (tmp_path / "stats_stats.csv").write_text(
        HEADER + "\n"
        "GET,home,130,0,4,5.5,0.3,80.5,2,13,0,4,5,5,6,9,12,20,40,70,80,81\n"
        "GET,broken,60,60,3,4.0,0.2,30.1,5,6,6,3,4,4,5,8,10,15,25,30,30,30\n"
        ",Aggregated,190,60,4,5.0,0.2,80.5,3,19,6,4,5,5,6,9,11,19,38,70,80,81\n"
    )
    (tmp_path / "stats_failures.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,broken,\"BadStatusCode('x', code=500)\",58\n"
        "GET,broken,ConnectionResetError(104),2\n"
    )
    run = read_stats(prefix, SCENARIO, TARGET, "", (99.9,))
    assert (run.engine, run.scheduled, run.requests, run.errors) == ("locust", 200, 190, 60)
    assert run.dropped == 10  # what the users could not send at their pace
    assert run.errors_by_status == {"500": 58, "reset": 2}
    assert (run.latency.p50, run.latency.p95, run.latency.p99, run.latency.max) == (4, 11, 38, 80.5)
    assert run.extra_percentiles == {"p99.9": 70.0}
    home, broken = run.endpoints
    assert (home.requests, home.errors, broken.errors) == (130, 0, 60)
    assert broken.errors_by_status == {"500": 58, "reset": 2}
    assert not run.client_limited and run.achieved_rps == 19.0
    partial = read_stats(prefix, SCENARIO, TARGET, "", (), interrupted=True)
    assert partial.interrupted and partial.duration_s == 10.0  # 190 requests at 19 req/s
    assert (partial.scheduled, partial.dropped) == (190, 0)


def test_the_locustfile_paces_users_to_the_offered_rate() -> None:
    assert locust_plan(SCENARIO).users == 20
    busy = Scenario("busy", SCENARIO.endpoints, (Stage(5.0, 3000.0),))
    plan = locust_plan(busy)
    assert plan.users == 1000 and plan.per_user_rate == 3.0
    source = render_locustfile(SCENARIO, "/api")
    tree = ast.parse(source)
    assigned = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(assigned["STAGES"]) == [(10.0, 20.0, 20.0)]
    paths = [e["path"] for e in ast.literal_eval(assigned["ENDPOINTS"])]
    assert paths == ["/api", "/api/status/${code}"]
    assert ast.literal_eval(assigned["PER_USER_RATE"]) == 1.0
