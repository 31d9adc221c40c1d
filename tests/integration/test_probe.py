"""The HTTP probe against real Starlette apps served by uvicorn on 127.0.0.1: a careless one
and a hardened one. Each check fires on the first and stays silent on the second."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodready.http.collect import ProbeOptions
from prodready.http.pipeline import ProbeResult, run_probe
from prodready.pg.cluster import free_port
from tests.conftest import TestDatabase

LOGIN = "POST /api/login"
ENDPOINTS = ["GET /api/items?id={id}", "GET /api/report/{id}", "POST /api/notes"]


def serve(app: str, dsn: str, *extra: str) -> Iterator[str]:
    """uvicorn serving tests.http_apps.<app> on a free loopback port; https with --ssl-*."""
    port = free_port()
    # a careful deployment also drops uvicorn's own Server header
    quiet = ["--no-server-header"] if app == "hardened" else []
    argv = [sys.executable, "-m", "uvicorn", f"tests.http_apps.{app}:app", "--host",
            "127.0.0.1", "--port", str(port), "--log-level", "warning", *quiet, *extra]  # fmt: skip
    scheme = "https" if "--ssl-certfile" in extra else "http"
    yield from run_server(argv, port, {"APP_DSN": dsn}, scheme=scheme)


def run_server(
    argv: list[str],
    port: int,
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    scheme: str = "http",
) -> Iterator[str]:
    """Start a server process, wait until `port` accepts connections, yield its URL, stop it."""
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        stop(child)


def stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if a graceful shutdown still waits on a client after 10 s."""
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)


def assert_careless_only(careless: ProbeResult, hardened: ProbeResult, check: str) -> None:
    """`check` flags the careless app, and the hardened one passes it."""
    assert check in {f.check for f in careless.findings}
    assert check not in {f.check for f in hardened.findings}
    assert check in hardened.passed


@pytest.fixture(scope="module")
def careless_url(db: TestDatabase) -> Iterator[str]:
    yield from serve("careless", db.dsn)


@pytest.fixture(scope="module")
def careless(careless_url: str) -> ProbeResult:
    return run_probe(careless_url, ProbeOptions(login=LOGIN, endpoints=ENDPOINTS))


@pytest.fixture(scope="module")
def hardened(db: TestDatabase) -> Iterator[ProbeResult]:
    for url in serve("hardened", db.dsn):
        yield run_probe(url, ProbeOptions(login=LOGIN, endpoints=ENDPOINTS))


CARELESS_ONLY = [
    "csp_missing",
    "x_frame_options_missing",
    "x_content_type_options_missing",
    "referrer_policy_missing",
    "cookie_missing_secure",
    "cookie_missing_httponly",
    "cookie_missing_samesite",
    "cors_reflects_origin_with_credentials",
    "stack_trace_on_error",
    "sql_injection_suspected",
    "db_error_leak",
    "no_rate_limit_on_login",
    "no_rate_limit_on_writes",
    "health_endpoint_shallow",
    "sri_missing_external_script",
    "x_powered_by_version",
    "server_header_product",
    "secret_in_error_body",
]


@pytest.mark.parametrize("check", CARELESS_ONLY)
def test_check_fires_on_the_careless_app_and_not_on_the_hardened_one(
    careless: ProbeResult, hardened: ProbeResult, check: str
) -> None:
    assert_careless_only(careless, hardened, check)


def test_budget_and_politeness(careless: ProbeResult, hardened: ProbeResult) -> None:
    for result in (careless, hardened):
        snap = result.snapshot
        assert len(snap.exchanges) <= 60 and snap.elapsed_s <= 10
        methods = {(e.method, e.path.split("?")[0]) for e in snap.exchanges}
        assert {m for m, _ in methods} <= {"GET", "OPTIONS", "POST"}
        assert {p for m, p in methods if m == "POST"} == {"/api/login", "/api/notes"}
        assert all(
            "prodready-probe" in e.request_headers.get("User-Agent", "prodready-probe")
            for e in snap.exchanges
        )


def test_the_hardened_login_limit_is_reported(hardened: ProbeResult) -> None:
    [limit] = hardened.rate_limits()
    assert limit["endpoint"] == LOGIN and limit["limit"] == 5
    assert limit["retry_after"] == "60"
    assert "rate_limit_headers_missing" in hardened.passed


def test_http_only_checks_are_not_applicable_over_plain_http(careless: ProbeResult) -> None:
    assert "hsts_missing" in careless.not_applicable
    assert "hsts_missing" not in {f.check for f in careless.findings}


def test_json_contract_and_no_secret_in_output(careless: ProbeResult) -> None:
    data = json.loads(json.dumps(careless.to_json()))
    assert set(data) >= {
        "target",
        "requests_sent",
        "elapsed_s",
        "findings",
        "passed",
        "not_applicable",
        "rate_limits",
    }
    assert set(data["findings"][0]) >= {"check", "severity", "object", "title", "evidence", "fix"}
    httponly = {f.object for f in careless.findings if f.check == "cookie_missing_httponly"}
    assert httponly == {"cookie session", "cookie connect.sid"}
    samesite = {f.object for f in careless.findings if f.check == "cookie_missing_samesite"}
    assert samesite == {"cookie connect.sid"}  # Starlette's set_cookie adds SameSite=lax
    assert all(len(f.evidence.get("excerpt", "")) <= 300 for f in careless.findings)
    # the app echoes its database URL in an error: named as a kind, never printed
    [leak] = [f for f in careless.findings if f.check == "secret_in_error_body"]
    assert leak.object == "POST /api/notes" and leak.evidence["kinds"] == ["url_password"]
    assert "Sh0p-Passw0rd-2024" not in json.dumps(data)


def test_cli_on_a_refusing_port_is_one_line_and_exit_3() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "probe", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert "cannot reach" in done.stderr and "Traceback" not in done.stderr


def test_one_audit_covers_the_database_and_the_app(db: TestDatabase, careless_url: str) -> None:
    from prodready.pipeline import audit_app

    options = ProbeOptions(login=LOGIN, endpoints=ENDPOINTS)
    report = audit_app(dsn=db.dsn, url=careless_url, probe_options=options, advise=False)
    data = report.to_json()
    assert data["target"]["database"]["name"] == db.name
    assert data["target"]["http"]["url"] == careless_url
    checks = {f["check"] for f in data["findings"]}
    assert "cors_reflects_origin_with_credentials" in checks  # from the probe
    assert "pg_stat_statements_missing" in checks or "timeouts_unset" in checks  # from the db
    sqli = next(f for f in report.findings if f.check == "sql_injection_suspected")
    assert sqli.phase == 1 and sqli.object.startswith("GET /api/items")
    alone = audit_app(url=careless_url)
    assert "database" not in alone.target and alone.findings
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "audit", "--url", careless_url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"]["http"]["url"] == careless_url


def test_audit_url_with_a_load_profile_adds_the_load_results(careless_url: str) -> None:
    from prodready.pipeline import audit_app

    report = audit_app(url=careless_url, load_profile="smoke", load_seconds=2.0)
    load = report.target["load"]
    assert load["profile"] == "smoke" and load["requests"] > 0
    assert [t["expr"] for t in load["thresholds"]] == ["p95<500ms", "error_rate<1%"]
    assert all(t["ok"] for t in load["thresholds"])  # a trivial page at 10 req/s
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "prodready",
            "audit",
            "--db",
            "postgresql://x@127.0.0.1:1/x",
            "--load",
            "smoke",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--load needs --url" in done.stderr


def test_cli_on_a_malformed_port_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prodready", "probe", "http://127.0.0.1:99999/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "prodready: error: not a valid port in 'http://127.0.0.1:99999/'"
    ]
