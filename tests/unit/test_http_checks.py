"""HTTP checks from hand-built probe snapshots (as the db checks are unit tested): each check
fires on a positive exchange and stays silent on its negative twin."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.http.model import Exchange, ProbeSnapshot
from prodready.http.redact import redact
from prodready.model import Finding
from prodready.registry import run_checks

SAFE_CSP = "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"


def ex(
    purpose: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    body: str = "",
    path: str = "/",
    method: str = "GET",
    sent: dict[str, str] | None = None,
) -> Exchange:
    return Exchange(
        purpose,
        method,
        f"http://127.0.0.1:8000{path}",
        sent or {},
        status,
        list((headers or {}).items()),
        body,
        1.0,
    )


def found(check: str, *exchanges: Exchange, **kw: Any) -> list[Finding]:
    snap = ProbeSnapshot(kw.pop("target", "http://127.0.0.1:8000"), list(exchanges), 1.0, **kw)
    return run_checks(snap, only=[check], strict=True).findings


@pytest.mark.parametrize(
    ("check", "bad", "good"),
    [
        (
            "csp_unsafe",
            {"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"},
            {"Content-Security-Policy": SAFE_CSP},
        ),
        ("x_powered_by_header", {"X-Powered-By": "Express"}, {}),
        ("server_version_leak", {"Server": "nginx/1.18.0"}, {"Server": "nginx"}),
        ("dev_server_in_use", {"Server": "WSGIServer/0.2 CPython/3.11"}, {"Server": "gunicorn"}),
        ("x_frame_options_missing", {}, {"Content-Security-Policy": SAFE_CSP}),
    ],
)
def test_header_checks(check: str, bad: dict[str, str], good: dict[str, str]) -> None:
    assert found(check, ex("home", headers=bad))
    assert not found(check, ex("home", headers=good))


def test_hsts_only_over_https() -> None:
    https = "https://shop.example"
    assert found("hsts_missing", ex("home"), target=https)
    assert not found(
        "hsts_missing",
        ex("home", headers={"Strict-Transport-Security": "max-age=31536000"}),
        target=https,
    )
    assert not found("hsts_missing", ex("home"))  # plain http: not applicable
    assert not found("csp_missing", ex("home", status=500))  # judged on the page, not errors


def test_null_origin_with_credentials() -> None:
    open_ = {"Access-Control-Allow-Origin": "null", "Access-Control-Allow-Credentials": "true"}
    assert found(
        "cors_allows_null_origin_with_credentials",
        ex("cors:null", headers=open_, sent={"Origin": "null"}),
    )
    assert not found(
        "cors_allows_null_origin_with_credentials",
        ex("cors:null", headers={"Access-Control-Allow-Origin": "https://a.example"}),
    )


@pytest.mark.parametrize(
    ("check", "bad", "good"),
    [
        (
            "framework_debug_page",
            "<h1>OperationalError</h1> You're seeing this error because you have <code>DEBUG = "
            "True</code>",
            '{"error": "internal"}',
        ),
        ("internal_paths_leak", "error in /usr/src/app/server.js", '{"error": "bad request"}'),
        ("db_error_leak", 'ERROR: relation "users" does not exist', '{"error": "not found"}'),
    ],
)
def test_error_body_checks(check: str, bad: str, good: str) -> None:
    assert found(check, ex("error:unknown_route", status=500, body=bad))
    assert not found(check, ex("error:unknown_route", status=500, body=good))


def test_inconsistent_error_shape() -> None:
    html = ex("error:unknown_route", 404, {"Content-Type": "text/html"})
    json_ = ex("error:malformed_json", 400, {"Content-Type": "application/json"})
    assert found("inconsistent_error_shape", html, json_)
    assert not found(
        "inconsistent_error_shape",
        json_,
        ex("error:quote", 400, {"Content-Type": "application/json"}),
    )


def test_rate_limit_headers_and_health_and_docs() -> None:
    bare_429 = ex("ratelimit:login:3", 429, method="POST", path="/api/login")
    told = ex("ratelimit:login:3", 429, {"Retry-After": "60"}, method="POST", path="/api/login")
    assert found("rate_limit_headers_missing", bare_429)
    assert not found("rate_limit_headers_missing", told)
    assert found("health_endpoint_missing", ex("health:/health", 404), ex("health:/ready", 404))
    assert not found(
        "health_endpoint_missing",
        ex("health:/health", 404),
        ex("health:/healthz", 200, body='{"database": "ok"}'),
    )
    assert found("api_docs_exposed", ex("docs:/openapi.json", 200))
    assert not found("api_docs_exposed", ex("docs:/openapi.json", 404))


def test_redaction_keeps_secrets_out() -> None:
    text = redact(
        'conn postgres://app:S3cretPass@db/app token="abcd1234efgh" '
        "jwt eyJhbGciOi.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    )
    assert "S3cretPass" not in text and "abcd1234efgh" not in text and "c2lnbmF0dXJl" not in text


def test_observatory_score_follows_its_published_modifiers() -> None:
    from prodready.http.observatory import observatory

    bare = ProbeSnapshot("https://shop.example", [ex("home")], 1.0)
    # CSP -25, HSTS -20, X-Content-Type-Options -5, X-Frame-Options -20
    assert observatory(bare) == {
        "score": 30,
        "grade": "D",
        "modifiers": [
            ["content-security-policy", -25],
            ["strict-transport-security", -20],
            ["x-content-type-options", -5],
            ["x-frame-options", -20],
        ],
    }
    good = {
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Strict-Transport-Security": "max-age=63072000",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    best = observatory(ProbeSnapshot("https://shop.example", [ex("home", headers=good)], 1.0))
    assert best["score"] == 120 and best["grade"] == "A+"  # 100 + 10 + 5 + 5 bonuses
