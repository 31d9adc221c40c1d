"""`prodready load` against real servers on 127.0.0.1: thresholds set the exit code, stalls
show in p99 (latency from the intended send time), bad input is one line and a documented code.

Timing assertions are orders of magnitude only: the machine has two busy cores.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load_servers import Stall, running


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "load", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def report_of(result: subprocess.CompletedProcess[str], code: int) -> dict:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("prodready: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stall_server() -> Iterator[str]:
    with running(Stall(every=5.0, duration=1.0)) as port:
        yield f"http://127.0.0.1:{port}"


def test_thresholds_met_exit_0_with_the_json_contract(server: str) -> None:
    result = run_cli(f"{server}/", "-r", "200", "-d", "2s", "-t", "p95<5s", "-t",
                     "error_rate<1%", "-t", "rps>=100", "-f", "json")  # fmt: skip
    data = report_of(result, 0)
    assert data["engine"] == "prodready" and data["target"] == f"{server}/"
    assert data["offered_rps"] == 200.0 and 100 <= data["achieved_rps"] <= 200
    assert data["requests"] + data["dropped"] == 400 and data["errors"] == 0
    assert [t["ok"] for t in data["thresholds"]] == [True, True, True]
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p99"] <= data["latency_ms"]["max"]
    assert data["endpoints"][0]["requests"] == data["requests"]


def test_a_failed_latency_threshold_exits_1(server: str) -> None:
    result = run_cli(f"{server}/sleep/300", "-r", "20", "-d", "1s", "-t", "p50<100ms",
                     "-t", "p50>=250ms", "-f", "json")  # fmt: skip
    data = report_of(result, 1)
    assert [t["ok"] for t in data["thresholds"]] == [False, True]
    assert data["thresholds"][0]["value"] >= 250
    assert any(f["check"] == "load_threshold_failed" for f in data["findings"])


def test_error_rate_threshold_both_ways(server: str) -> None:
    failing = report_of(run_cli(f"{server}/status/503", "-r", "50", "-d", "1s", "-t",
                                "error_rate<1%", "-f", "json"), 1)  # fmt: skip
    assert failing["errors"] == failing["requests"] > 0
    assert failing["errors_by_status"] == {"503": failing["requests"]}
    assert failing["thresholds"][0] == {"expr": "error_rate<1%", "ok": False, "value": 100.0}
    passing = report_of(run_cli(f"{server}/status/503", "-r", "50", "-d", "1s", "-t",
                                "error_rate>50%", "-f", "json"), 0)  # fmt: skip
    assert passing["thresholds"][0]["ok"] is True


def test_a_scenario_file_with_weights_templates_and_endpoint_thresholds(
    server: str, tmp_path: Path
) -> None:
    (tmp_path / "codes.csv").write_text("code\n500\n")
    scenario = tmp_path / "mixed.toml"
    scenario.write_text(
        'name = "mixed"\n'
        'thresholds = ["ok: error_rate<1%", "broken: error_rate<1%"]\n'
        "[vars]\n"
        'code = { csv = "codes.csv", column = "code" }\n'
        "[[stages]]\n"
        'duration = "1s"\n'
        "rate = 150\n"
        "[[endpoints]]\n"
        'name = "ok"\n'
        'path = "/"\n'
        "weight = 2\n"
        "[[endpoints]]\n"
        'name = "broken"\n'
        'method = "POST"\n'
        'path = "/status/${code}"\n'
        "body = '{\"code\": ${code}}'\n"
    )
    data = report_of(run_cli(server, "-s", str(scenario), "-f", "json"), 1)
    ok, broken = data["endpoints"]
    assert ok["errors"] == 0 and ok["requests"] > broken["requests"] > 10
    assert broken["errors"] == broken["requests"] and broken["errors_by_status"] == {
        "500": broken["requests"]
    }
    assert [t["ok"] for t in data["thresholds"]] == [True, False]
    assert data["scenario"] == "mixed"


def test_terminal_markdown_and_html_reports(server: str) -> None:
    terminal = run_cli(f"{server}/", "-d", "1s", "-t", "p95<5s")
    assert terminal.returncode == 0, terminal.stderr
    assert "offered 10.0 req/s" in terminal.stdout and "PASS" in terminal.stdout
    markdown = run_cli(f"{server}/", "-d", "1s", "-f", "md")
    assert markdown.returncode == 0 and markdown.stdout.startswith("# Load test:")
    page = run_cli(f"{server}/", "-r", "20", "-d", "2s", "-f", "html")
    assert page.returncode == 0 and page.stdout.rstrip().endswith("</html>")
    assert page.stdout.count("<svg") == 2 and "<polyline" in page.stdout


def closed_model_p99_ms(url: str, seconds: float) -> float:
    """A closed-model client (one connection, next request after each answer): what most
    tools measure. It sends nothing while the server stalls, so the stall is one sample."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        conn.request("GET", "/")
        conn.getresponse().read()
        latencies.append(time.monotonic() - started)
    conn.close()
    latencies.sort()
    return latencies[int(len(latencies) * 0.99)] * 1000


def test_stalls_show_in_p99_because_latency_counts_from_the_intended_send(
    stall_server: str,
) -> None:
    # a 1 s stall every 5 s: a fifth of the requests are due during a stall
    data = report_of(run_cli(f"{stall_server}/", "-r", "100", "-d", "6s", "-t", "p99<500ms",
                             "-f", "json"), 1)  # fmt: skip
    assert data["latency_ms"]["p99"] >= 500
    assert data["latency_ms"]["p90"] >= 100  # not one unlucky request: a tenth waited
    assert data["errors"] == 0 and data["dropped"] == 0
    assert data["connections"] >= 20  # requests kept leaving during the stall
    assert closed_model_p99_ms(stall_server, 6.0) < 100


def test_a_rate_the_client_cannot_reach_says_so(server: str) -> None:
    # far beyond what one Python process can send on two cores
    data = report_of(run_cli(f"{server}/", "-r", "200000", "-d", "0.25s", "-f", "json"), 0)
    assert data["client_limited"] is True
    assert data["achieved_rps"] < data["offered_rps"]
    assert any(f["check"] == "load_client_limited" for f in data["findings"])


def test_ctrl_c_prints_the_partial_report_and_exits_130(server: str) -> None:
    args = ["load", f"{server}/", "-r", "50", "-d", "60s", "-f", "json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "prodready", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    data = json.loads(stdout)
    assert data["interrupted"] is True and 0 < data["requests"] < 3000
    assert data["duration_s"] < 30
    assert "Traceback" not in stderr


def test_malformed_scenario_names_the_line(server: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[endpoints]]\npath = "/"\n\n[[endpoints]]\npath = "/x"\nweight = "heavy"\n')
    assert_one_line_error(run_cli(server, "-s", str(bad)), 2, "bad.toml:6", "weight")
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[[stages]\n')
    assert_one_line_error(run_cli(server, "-s", str(broken)), 2, "malformed TOML", "line 2")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["-t", "p95<fast"], 2, ["cannot parse threshold 'p95<fast'"]),
        (["-t", "p95<5%"], 2, ["latency"]),
        (["-d", "soon"], 2, ["--duration"]),
        (["-f", "xml"], 2, ["unknown format"]),
        (["-r", "1000000", "-d", "1h"], 2, ["--max-requests"]),
        (["--engine", "k6"], 2, ["unknown engine"]),
    ],
)
def test_bad_arguments(server: str, args: list[str], code: int, words: list[str]) -> None:
    assert_one_line_error(run_cli(f"{server}/", *args), code, *words)


def test_a_non_loopback_host_needs_allow_host() -> None:
    assert_one_line_error(run_cli("http://10.20.30.40:8080/"), 2, "--allow-host 10.20.30.40")
    assert_one_line_error(run_cli("http://no-such-host.invalid/"), 2, "not a loopback")


def test_an_allowed_host_that_does_not_resolve_is_a_target_error() -> None:
    result = run_cli("http://no-such-host.invalid/", "--allow-host", "no-such-host.invalid")
    assert_one_line_error(result, 3, "cannot resolve no-such-host.invalid")


def test_a_refused_port_is_a_target_error() -> None:
    from prodready.pg.cluster import free_port

    port = free_port()
    assert_one_line_error(run_cli(f"http://127.0.0.1:{port}/"), 3, "connection refused")


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    """A server that answers anything, a TLS hello included, with a plain-HTTP 400."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)

    def answer() -> None:
        with contextlib.suppress(OSError), listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=30)


def test_a_tls_error_is_a_target_error(plain_http_port: int) -> None:
    result = run_cli(f"https://127.0.0.1:{plain_http_port}/")
    assert_one_line_error(result, 3, "TLS handshake with 127.0.0.1")
