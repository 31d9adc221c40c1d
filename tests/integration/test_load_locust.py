"""The Locust engine runs a real master and worker on the same scenario and gives the same
verdict; `--workers 0` and `--export` write what teams need to run Locust or k6 themselves."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load_servers import running
from tests.integration.test_load_cli import assert_one_line_error, report_of, run_cli

SCENARIO = """\
name = "mixed"
thresholds = ["p95<5s", "ok: error_rate<1%"]

[vars]
code = [500, 404]

[[stages]]
duration = "2s"
rate = 100

[[endpoints]]
name = "ok"
path = "/"
weight = 3

[[endpoints]]
name = "broken"
method = "POST"
path = "/status/${code}"
body = '{"code": ${code}}'
"""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running() as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.toml"
    path.write_text(SCENARIO)
    return path


def test_locust_master_and_worker_give_the_same_report_and_verdict(
    server: str, scenario: Path
) -> None:
    args = [server, "-s", str(scenario), "-f", "json", "-t", "error_rate<1%"]
    ours = report_of(run_cli(*args), 1)
    theirs = report_of(run_cli(*args, "--engine", "locust", "--workers", "1"), 1)
    assert theirs["engine"] == "locust" and ours["engine"] == "prodready"
    for data in (ours, theirs):
        assert data["offered_rps"] == 100.0
        assert [t["ok"] for t in data["thresholds"]] == [True, True, False]
        ok, broken = data["endpoints"]
        assert ok["errors"] == 0 and broken["errors"] == broken["requests"] > 5
        assert set(data["errors_by_status"]) <= {"500", "404"}
    # constant-throughput pacing reaches the offered rate (wide margin: a busy machine)
    assert 150 <= theirs["requests"] <= 200
    assert theirs["latency_ms"]["p50"] is not None


def test_ctrl_c_stops_locust_and_prints_the_partial_report(server: str) -> None:
    args = ["load", server, "-r", "50", "-d", "60s", "--engine", "locust", "-f", "json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "prodready", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a shell job
    )
    try:
        time.sleep(6)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    data = json.loads(stdout)
    assert data["engine"] == "locust" and data["interrupted"] is True
    assert 0 < data["requests"] < 3000 and data["dropped"] == 0
    assert "Traceback" not in stderr


def test_workers_0_prints_the_commands(server: str, scenario: Path) -> None:
    result = run_cli(server, "-s", str(scenario), "--engine", "locust", "--workers", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("locust -f locustfile.py --headless --master") for line in lines)
    assert any(line.startswith("locust -f locustfile.py --worker") for line in lines)
    assert any("--export locust locustfile.py" in line for line in lines)


def test_export_locust_writes_a_locustfile(server: str, scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "locustfile.py"
    result = run_cli(server, "-s", str(scenario), "--export", "locust", str(out))
    assert result.returncode == 0, result.stderr
    tree = ast.parse(out.read_text())
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    assert classes == {"ScenarioUser", "Stages"}
    assert "constant_throughput(PER_USER_RATE)" in out.read_text()


def test_export_k6_writes_an_arrival_rate_script(
    server: str, scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "script.js"
    result = run_cli(server, "-s", str(scenario), "-t", "p99<1s", "--export", "k6", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    options = json.loads(re.search(r"export const options = (\{.*?\n\});", text, re.S)[1])
    load = options["scenarios"]["load"]
    assert load["executor"] == "ramping-arrival-rate"
    assert load["stages"] == [{"target": 100, "duration": "0s"}, {"target": 100, "duration": "2s"}]
    assert options["thresholds"] == {
        "http_req_duration": ["p(95)<5000", "p(99)<1000"],
        "http_req_failed{name:ok}": ["rate<0.01"],
    }


def test_export_to_an_unknown_tool(server: str, tmp_path: Path) -> None:
    result = run_cli(server, "--export", "jmeter", str(tmp_path / "x.jmx"))
    assert_one_line_error(result, 2, "cannot export to 'jmeter'")
