"""Security headers, judged on the page itself (GET /), never on error pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from prodready.http.framework import fix_for
from prodready.http.html import external_scripts_without_integrity
from prodready.http.model import Exchange, ProbeSnapshot
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check

_VERSION = re.compile(r"\d+\.\d+")
DEV_SERVERS = ("wsgiserver", "werkzeug", "webrick", "next.js dev")


def _home(snap: ProbeSnapshot) -> Exchange | None:
    home = snap.first("home")
    return home if home is not None and home.status is not None and home.status < 400 else None


def _header_of_home(snap: ProbeSnapshot, name: str) -> tuple[Exchange | None, str | None]:
    home = snap.first("home")
    return home, home.header(name) if home else None


def _header_issue(home: Exchange, header: str, value: str) -> Issue:
    return Issue(
        object=f"{home.object} ({header})",
        detail=f"Responses carry {header}: {value}.",
        evidence={"request": home.object, "value": value},
    )


def _dev_server(server: str) -> bool:
    return any(d in server.lower() for d in DEV_SERVERS)


def _issue(snap: ProbeSnapshot, home: Exchange, detail: str, header: str) -> Issue:
    fix = fix_for(snap, "headers")
    return Issue(
        object=f"{home.object} ({header})",
        detail=f"{detail} Fix: {fix}.",
        evidence={
            "request": home.object,
            "status": home.status,
            "header": header,
            "value": home.header(header),
            "fix": fix,
        },
        verify=f"curl -sI {snap.target} shows a {header} header",
    )


@check(
    "csp_missing",
    title="No Content-Security-Policy",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def csp_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Without a Content-Security-Policy any injected script runs with the page's rights:
    one XSS bug steals every session. Start with `default-src 'self'; object-src 'none';
    base-uri 'self'; frame-ancestors 'none'` and widen it only where the page needs."""
    home = _home(snap)
    if home is not None and not home.header("content-security-policy"):
        yield _issue(
            snap, home, "The page sends no Content-Security-Policy.", "Content-Security-Policy"
        )


@check(
    "csp_unsafe",
    title="Content-Security-Policy that does not protect",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def csp_unsafe(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A policy with 'unsafe-inline' or 'unsafe-eval' in script-src, a wildcard source, or no
    object-src/base-uri leaves XSS open. Use nonces or hashes instead of 'unsafe-inline'."""
    home = _home(snap)
    policy = home.header("content-security-policy") if home else None
    if home is None or not policy:
        return
    directives = {d.split()[0].lower(): d.split()[1:] for d in policy.split(";") if d.split()}
    scripts = directives.get("script-src", directives.get("default-src", []))
    problems: list[str] = [p for p in ("'unsafe-inline'", "'unsafe-eval'") if p in scripts]
    problems += ["wildcard source"] if any(s in ("*", "http:", "https:") for s in scripts) else []
    if "object-src" not in directives and "'none'" not in directives.get("default-src", []):
        problems.append("no object-src")
    if "base-uri" not in directives:
        problems.append("no base-uri")
    if problems:
        yield _issue(
            snap,
            home,
            f"The Content-Security-Policy has {', '.join(problems)}.",
            "Content-Security-Policy",
        )


@check(
    "x_frame_options_missing",
    title="Page can be framed (clickjacking)",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def x_frame_options_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Neither X-Frame-Options nor CSP frame-ancestors: another site can frame the page and
    trick users into clicking. Send `X-Frame-Options: DENY` or `frame-ancestors 'none'`."""
    home = _home(snap)
    if home is None or home.header("x-frame-options"):
        return
    if "frame-ancestors" in (home.header("content-security-policy") or "").lower():
        return
    yield _issue(
        snap,
        home,
        "The page sends neither X-Frame-Options nor CSP frame-ancestors.",
        "X-Frame-Options",
    )


@check(
    "x_content_type_options_missing",
    title="No X-Content-Type-Options: nosniff",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def x_content_type_options_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Without `nosniff` browsers may guess a response's type and run an upload as script."""
    home = _home(snap)
    if home is not None and (home.header("x-content-type-options") or "").lower() != "nosniff":
        yield _issue(
            snap,
            home,
            "The page does not send X-Content-Type-Options: nosniff.",
            "X-Content-Type-Options",
        )


@check(
    "referrer_policy_missing",
    title="No Referrer-Policy",
    category=Category.SECURITY,
    severity=Severity.INFO,
    surface="http",
)
def referrer_policy_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Full URLs (with tokens in query strings) can leak to other sites in the Referer
    header. Send `Referrer-Policy: strict-origin-when-cross-origin`."""
    home = _home(snap)
    if home is not None and not home.header("referrer-policy"):
        yield _issue(snap, home, "The page sends no Referrer-Policy.", "Referrer-Policy")


@check(
    "x_powered_by_header",
    title="X-Powered-By names the framework",
    category=Category.SECURITY,
    severity=Severity.INFO,
    surface="http",
)
def x_powered_by_header(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """X-Powered-By tells attackers which exploits to try. Express: app.disable('x-powered-by')
    (helmet does it); Next.js: poweredByHeader: false. With a version: x_powered_by_version."""
    home, value = _header_of_home(snap, "x-powered-by")
    if home is not None and value and not _VERSION.search(value):
        yield _header_issue(home, "X-Powered-By", value)


@check(
    "x_powered_by_version",
    title="X-Powered-By names the framework's version",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def x_powered_by_version(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """`X-Powered-By: PHP/8.1.2` tells attackers which known vulnerabilities apply. Remove the
    header (Express: helmet or app.disable('x-powered-by'); Next.js: poweredByHeader: false)."""
    home, value = _header_of_home(snap, "x-powered-by")
    if home is not None and value and _VERSION.search(value):
        yield _header_issue(home, "X-Powered-By", value)


@check(
    "server_header_product",
    title="Server header names the product",
    category=Category.SECURITY,
    severity=Severity.INFO,
    surface="http",
)
def server_header_product(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """`Server: uvicorn` or `Server: nginx` names the software without a version: little to
    an attacker, nothing to a user. With a version it is server_version_leak; a development
    server is dev_server_in_use."""
    home, value = _header_of_home(snap, "server")
    if home is not None and value and not _VERSION.search(value) and not _dev_server(value):
        yield _header_issue(home, "Server", value)


@check(
    "server_version_leak",
    title="Server header names a version",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def server_version_leak(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A `Server: nginx/1.18.0` header tells attackers which known vulnerabilities apply.
    nginx: server_tokens off; Apache: ServerTokens Prod; uvicorn: --no-server-header."""
    home, value = _header_of_home(snap, "server")
    if home is not None and value and _VERSION.search(value):
        yield _header_issue(home, "Server", value)


@check(
    "sri_missing_external_script",
    title="Scripts from other hosts without Subresource Integrity",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def sri_missing_external_script(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A script loaded from a CDN without an `integrity` hash runs whatever that host serves
    tomorrow: one compromised CDN is XSS on every page. Add integrity="sha384-..." and
    crossorigin="anonymous", or serve the file yourself. Medium when loaded over plain http."""
    home = _home(snap)
    if home is None:
        return
    own = urlsplit(home.url).netloc.lower()
    for src in external_scripts_without_integrity(home.body, home.url, own):
        yield Issue(
            object=f"{home.object} (script {src})",
            detail=f"The page loads {src} without an integrity hash.",
            evidence={"request": home.object, "script": src},
            severity=Severity.MEDIUM if src.lower().startswith("http://") else None,
            verify="every <script src> from another host carries integrity= and crossorigin=",
        )


@check(
    "dev_server_in_use",
    title="A development server answers",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    surface="http",
)
def dev_server_in_use(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Django's runserver, Werkzeug, WEBrick and `next dev` are built for a laptop: one
    process, no hardening, debug features on. Run gunicorn/uvicorn workers, puma, or
    `next start` behind a reverse proxy."""
    home, value = _header_of_home(snap, "server")
    server = (value or "").lower()
    if home is not None and _dev_server(server):
        yield Issue(
            object=f"{home.object} (Server)",
            detail=f"The app answers from {server}.",
            evidence={"request": home.object, "server": server},
        )


@check(
    "hsts_missing",
    title="No Strict-Transport-Security",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def hsts_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Without HSTS a user's first request can be downgraded to plain HTTP and intercepted.
    Send `Strict-Transport-Security: max-age=31536000; includeSubDomains` over HTTPS. Judged
    only over HTTPS: on plain HTTP it does not apply."""
    home = _home(snap)
    if snap.https and home is not None and not home.header("strict-transport-security"):
        yield _issue(
            snap,
            home,
            "The HTTPS page sends no Strict-Transport-Security.",
            "Strict-Transport-Security",
        )
