"""HTTP checks from hand-built probe snapshots (as the db checks are unit tested): each check
fires on a positive exchange and stays silent on its negative twin."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.http.model import Exchange, ProbeSnapshot
from prodready.http.redact import redact_and_name
from prodready.model import Finding, Severity
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
        ("x_powered_by_header", {"X-Powered-By": "Express"}, {"X-Powered-By": "PHP/8.1.2"}),
        ("x_powered_by_version", {"X-Powered-By": "PHP/8.1.2"}, {"X-Powered-By": "Express"}),
        ("server_version_leak", {"Server": "nginx/1.18.0"}, {"Server": "nginx"}),
        ("server_header_product", {"Server": "uvicorn"}, {"Server": "nginx/1.18.0"}),
        ("server_header_product", {"Server": "uvicorn"}, {"Server": "Werkzeug"}),
        ("dev_server_in_use", {"Server": "WSGIServer/0.2 CPython/3.11"}, {"Server": "gunicorn"}),
        ("x_frame_options_missing", {}, {"Content-Security-Policy": SAFE_CSP}),
    ],
)
def test_header_checks(check: str, bad: dict[str, str], good: dict[str, str]) -> None:
    assert found(check, ex("home", headers=bad))
    assert not found(check, ex("home", headers=good))


def test_sri_on_scripts_from_other_hosts() -> None:
    cdn = '<script src="https://cdn.example.net/lib.js"></script>'
    plain = '<script src="http://cdn.example.net/lib.js"></script>'
    pinned = (
        '<script src="https://cdn.example.net/lib.js" integrity="sha384-abc" '
        'crossorigin="anonymous"></script>'
    )
    own = '<script src="/static/app.js"></script><script src="http://127.0.0.1:8000/a.js"></script>'
    [finding] = found("sri_missing_external_script", ex("home", body=cdn))
    assert finding.evidence["script"] == "https://cdn.example.net/lib.js"
    assert finding.severity is Severity.LOW
    [over_http] = found("sri_missing_external_script", ex("home", body=plain))
    assert over_http.severity is Severity.MEDIUM
    assert not found("sri_missing_external_script", ex("home", body=pinned + own))
    assert not found("sri_missing_external_script", ex("home", body="<script>inline()</script>"))


def test_route_list_and_secret_in_error_bodies() -> None:
    django_404 = (
        "Using the URLconf defined in <code>shop.urls</code>, Django tried these URL patterns"
    )
    assert found("route_list_exposed", ex("error:unknown_route", 404, body=django_404))
    assert not found(
        "route_list_exposed", ex("error:unknown_route", 404, body="<h1>Not Found</h1>")
    )
    leaked, kinds = redact_and_name('{"db": "postgres://app:S3cretPass@db:5432/app"}')
    assert "S3cretPass" not in leaked and kinds == ("url_password",)
    leak = Exchange(
        "error:malformed_json", "POST", "http://127.0.0.1:8000/api/login", {}, 500, [],
        leaked, 1.0, secrets=kinds,
    )  # fmt: skip
    [finding] = found("secret_in_error_body", leak)
    assert finding.evidence["kinds"] == ["url_password"] and "S3cretPass" not in str(finding)
    # a validation message names the password field; the anon key is public by design
    anon = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0.c2lnbmF0dXJlX3g"
    _, quiet = redact_and_name(f'{{"password": "field required", "key": "{anon}"}}')
    assert quiet == ()
    service = anon.replace(
        "eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0", "eyJyb2xlIjoic2VydmljZV9yb2xlIn0"
    )
    assert redact_and_name(service)[1] == ("jwt",)
    ok = Exchange("home", "GET", "http://127.0.0.1:8000/", {}, 200, [], leaked, 1.0, secrets=kinds)
    assert not found("secret_in_error_body", ok)  # only error responses


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


def test_express_error_page_is_a_debug_page_only_with_its_stack() -> None:
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Error</title>\n</head>\n<body>\n<pre>{}</pre>\n</body>\n</html>\n"
    )
    stack = "Error: boom<br> &nbsp; &nbsp;at /srv/app/server.js:26:31<br> &nbsp; &nbsp;at next"
    assert found("framework_debug_page", ex("error:id_invalid", 500, body=page.format(stack)))
    not_found = page.format("Cannot GET /prodready-probe-1a2b")  # Express's ordinary 404
    assert not found("framework_debug_page", ex("error:unknown_route", 404, body=not_found))


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


def test_rate_limit_on_writes() -> None:
    unlimited = [
        ex(f"ratelimit:write:{i}", 400, method="POST", path="/api/notes") for i in range(15)
    ]
    [finding] = found("no_rate_limit_on_writes", *unlimited)
    assert finding.object == "POST /api/notes (rate limit)"
    limited = [*unlimited[:5], ex("ratelimit:write:5", 429, method="POST", path="/api/notes")]
    assert not found("no_rate_limit_on_writes", *limited)
    assert not found("no_rate_limit_on_writes", ex("endpoint:POST /api/notes", 201))


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
    text, _ = redact_and_name(
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
