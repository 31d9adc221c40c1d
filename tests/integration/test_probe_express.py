"""The HTTP probe against real Express apps (node, npm packages from the lockfile): a
careless one with Express's defaults and a hardened one with helmet, cors and
express-rate-limit. Each check fires on the first and stays silent on the second, and the
fixes name the Express way to do it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodready.http.collect import ProbeOptions
from prodready.http.framework import detect
from prodready.http.pipeline import ProbeResult, run_probe
from prodready.pg.cluster import free_port
from tests.integration.test_probe import assert_careless_only, run_server

APPS = Path(__file__).resolve().parents[1] / "http_apps" / "express"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (APPS / "node_modules" / "express").is_dir(),
    reason="node or the test apps' npm packages are missing (scripts/install-node-deps.sh)",
)
LOGIN = "POST /api/login"
ENDPOINTS = ["GET /api/report/{id}"]


def serve(app: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    yield from run_server(["node", f"{app}.js"], port, {**env, "PORT": str(port)}, cwd=APPS)


@pytest.fixture(scope="module")
def careless() -> Iterator[ProbeResult]:
    # NODE_ENV unset, as on many a deployment: Express's error pages show the stack
    for url in serve("careless", {"NODE_ENV": "development"}):
        yield run_probe(url, ProbeOptions(login=LOGIN, endpoints=ENDPOINTS))


@pytest.fixture(scope="module")
def hardened() -> Iterator[ProbeResult]:
    for url in serve("hardened", {"NODE_ENV": "production"}):
        yield run_probe(url, ProbeOptions(login=LOGIN, endpoints=ENDPOINTS))


CARELESS_ONLY = [
    "x_powered_by_header",
    "csp_missing",
    "x_frame_options_missing",
    "x_content_type_options_missing",
    "referrer_policy_missing",
    "cookie_missing_httponly",
    "cookie_missing_samesite",
    "cors_reflects_origin_with_credentials",
    "stack_trace_on_error",  # Express's page outside production: the stack and its paths
    "no_rate_limit_on_login",
    "health_endpoint_shallow",
]


@pytest.mark.parametrize("check", CARELESS_ONLY)
def test_check_fires_on_careless_express_and_not_on_hardened(
    careless: ProbeResult, hardened: ProbeResult, check: str
) -> None:
    assert_careless_only(careless, hardened, check)


def test_the_fixes_are_the_express_ones(careless: ProbeResult) -> None:
    assert detect(careless.snapshot) == "express"
    fixes = {f.check: str(f.evidence.get("fix", "")) for f in careless.findings}
    assert "helmet" in fixes["csp_missing"]
    assert "express-rate-limit" in fixes["no_rate_limit_on_login"]
    assert fixes["csp_missing"].startswith("express: ")


def test_the_hardened_limit_is_read_from_express_rate_limit(hardened: ProbeResult) -> None:
    [limit] = hardened.rate_limits()
    # limit: 5 counts what reaches the limiter; the malformed-JSON probe is turned away by
    # express.json() before it, so the login answered 6 requests before its first 429
    assert limit["endpoint"] == LOGIN and limit["limit"] == 6
    assert limit["retry_after"] is not None
    assert any(name.lower().startswith("ratelimit") for name in limit["headers"])
    assert {f.check for f in hardened.findings} <= {"server_header_product"}
