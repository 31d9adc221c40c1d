"""Cookies, CORS, error responses, rate limits, health endpoints and API docs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prodready.http.cookies import is_session, set_cookies
from prodready.http.framework import fix_for
from prodready.http.model import Exchange, ProbeSnapshot
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check

STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)|\n\s+at [\w.<>$]+ \(|File \"[^\"]+\.py\", line \d+"
    r"|\.rb:\d+:in `|Exception in thread|at Object\.<anonymous>|node_modules/",
)
DEBUG_PAGE = re.compile(
    r"Werkzeug Debugger|<title>Starlette Debugger</title>|You're seeing this error because you "
    r"have <code>DEBUG = True|Django Version:|Action Controller: Exception caught"
    r"|Whoops! There was an error"
    # Express's error page outside production: a <pre> with the stack. The same page without
    # a stack is Express's ordinary 404 ("Cannot GET /x"), which every Express app sends.
    r"|<title>Error</title>\s*</head>\s*<body>\s*<pre>[^<]*<br>(?:\s|&nbsp;)*at ",
    re.IGNORECASE,
)
DB_ERROR = re.compile(
    r"syntax error at or near|psycopg2?\.errors|PG::\w+Error|SQLSTATE\[|relation \"[^\"]+\" does "
    r"not exist|duplicate key value violates|sqlalchemy\.exc|ER_PARSE_ERROR|QueryFailedError"
    r"|PrismaClient\w*Error|unterminated quoted string",
    re.IGNORECASE,
)
SQL_SYNTAX = re.compile(
    r"syntax error at or near|unterminated quoted string|ER_PARSE_ERROR", re.IGNORECASE
)
INTERNAL_PATH = re.compile(
    r"(/home/\w+|/usr/src/app|/var/www|/app/[\w/]+\.(py|js|ts|rb)|"
    r"[A-Z]:\\\\Users\\\\)"
)
ROUTE_LIST = re.compile(
    r"Using the URLconf defined in <code>|Django tried these URL patterns"
    r"|Routes match in priority from top to bottom|<h2>Available routes</h2>",
    re.IGNORECASE,
)
SECRET_NAMES = {
    "url_password": "a connection URL with its password",
    "jwt": "a signed token (JWT)",
    "private_key": "a private key",
}
RATE_HEADERS = (
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
)


def _errors(snap: ProbeSnapshot) -> list[Exchange]:
    """The error probes that did get an error (4xx/5xx) back."""
    return [e for e in snap.exchanges if e.purpose.startswith("error:") and (e.status or 0) >= 400]


def _body_issue(snap: ProbeSnapshot, exchange: Exchange, what: str, match: str) -> Issue:
    fix = fix_for(snap, "errors")
    return Issue(
        object=exchange.object,
        detail=f"{exchange.object} answered {exchange.status} with {what}. Fix: {fix}.",
        evidence={
            "request": exchange.object,
            "purpose": exchange.purpose,
            "status": exchange.status,
            "excerpt": match[:300],
            "fix": fix,
        },
    )


# -- cookies --


def _cookie_issue(exchange: Exchange, name: str, missing: str, snap: ProbeSnapshot) -> Issue:
    fix = fix_for(snap, "cookies")
    return Issue(
        object=f"cookie {name}",
        detail=f"Cookie {name} (set by {exchange.object}) lacks {missing}. Fix: {fix}.",
        evidence={"request": exchange.object, "cookie": name, "missing": missing, "fix": fix},
    )


@check(
    "cookie_missing_secure",
    title="Session cookie without Secure",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def cookie_missing_secure(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A session cookie without Secure is sent over plain HTTP too, where anyone on the
    network reads it. Over plain http (a local run) it is reported at low."""
    for exchange, name, value, attributes in set_cookies(snap):
        if is_session(name, value) and "secure" not in attributes:
            issue = _cookie_issue(exchange, name, "Secure", snap)
            yield issue if snap.https else Issue(**{**issue.__dict__, "severity": Severity.LOW})


@check(
    "cookie_missing_httponly",
    title="Session cookie readable by scripts",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def cookie_missing_httponly(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Without HttpOnly any script on the page (one XSS bug) reads the session cookie. CSRF
    token cookies are read by scripts by design and are left out."""
    for exchange, name, value, attributes in set_cookies(snap):
        if is_session(name, value) and "httponly" not in attributes:
            yield _cookie_issue(exchange, name, "HttpOnly", snap)


@check(
    "cookie_missing_samesite",
    title="Session cookie without SameSite",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def cookie_missing_samesite(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Without SameSite the browser's default applies (Lax in most, not all); set
    `SameSite=Lax` (or Strict) so cross-site requests do not carry the session."""
    for exchange, name, value, attributes in set_cookies(snap):
        if is_session(name, value) and "samesite" not in attributes:
            yield _cookie_issue(exchange, name, "SameSite", snap)


# -- CORS --


@check(
    "cors_reflects_origin_with_credentials",
    title="CORS lets any site read with the user's session",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    surface="http",
)
def cors_reflects_origin_with_credentials(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """The app echoes an arbitrary Origin in Access-Control-Allow-Origin and allows
    credentials: any website the user visits can call the API as the user and read the
    answers. Allow a fixed list of your own origins."""
    for purpose in ("cors:simple", "cors:preflight"):
        exchange = snap.first(purpose)
        if exchange is None:
            continue
        sent = exchange.request_headers.get("Origin", "")
        allowed = exchange.header("access-control-allow-origin") or ""
        credentials = (exchange.header("access-control-allow-credentials") or "").lower()
        if sent and allowed == sent and credentials == "true":
            fix = fix_for(snap, "cors")
            yield Issue(
                object=f"{exchange.object} (CORS)",
                detail=f"Origin {sent} is echoed back with credentials allowed. Fix: {fix}.",
                evidence={
                    "request": exchange.object,
                    "origin": sent,
                    "access-control-allow-origin": allowed,
                    "fix": fix,
                },
            )
            return


@check(
    "cors_allows_null_origin_with_credentials",
    title="CORS trusts the 'null' origin",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    surface="http",
)
def cors_allows_null_origin_with_credentials(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """`Origin: null` comes from sandboxed iframes and local files, which any attacker can
    produce; allowing it with credentials is allowing everyone."""
    exchange = snap.first("cors:null")
    if exchange is None:
        return
    allowed = exchange.header("access-control-allow-origin") or ""
    credentials = (exchange.header("access-control-allow-credentials") or "").lower()
    if allowed == "null" and credentials == "true":
        yield Issue(
            object=f"{exchange.object} (CORS)",
            detail="Origin null is allowed with credentials.",
            evidence={"request": exchange.object, "access-control-allow-origin": allowed},
        )


# -- error responses --


@check(
    "stack_trace_on_error",
    title="Error responses show a stack trace",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    surface="http",
)
def stack_trace_on_error(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A stack trace in a response shows file paths, library versions and code to anyone
    who sends a bad request. Return a generic error and log the details."""
    for exchange in _errors(snap):
        match = STACK_TRACE.search(exchange.body)
        if match:
            yield _body_issue(snap, exchange, "a stack trace", exchange.body[match.start() :])


@check(
    "framework_debug_page",
    title="The framework's debug page is on",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    surface="http",
)
def framework_debug_page(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Django's DEBUG = True page, the Werkzeug debugger (a remote Python console) or Rails'
    exception page show settings, source and sometimes a shell. Turn debug off in production."""
    for exchange in snap.exchanges:
        match = DEBUG_PAGE.search(exchange.body) if exchange.status else None
        if match:
            yield _body_issue(snap, exchange, "the framework's debug page", match.group(0))
            return


@check(
    "route_list_exposed",
    title="Error pages list the app's routes",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def route_list_exposed(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Django's debug 404 and Rails' routing error list every URL pattern the app serves,
    admin and internal ones included: a map for an attacker. Turn debug off in production."""
    for exchange in snap.exchanges:
        match = ROUTE_LIST.search(exchange.body) if exchange.status else None
        if match:
            yield _body_issue(snap, exchange, "a list of the app's routes", match.group(0))
            return


@check(
    "secret_in_error_body",
    title="A secret in an error response",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    surface="http",
)
def secret_in_error_body(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """An error page that prints a connection URL with its password, a signed token or a
    private key hands it to anyone who sends a bad request. Rotate the secret, then return
    generic errors. (The probe stores the body redacted; only the kind is kept.)"""
    seen: set[str] = set()  # one finding per endpoint, however many requests showed it
    for exchange in snap.exchanges:
        if exchange.secrets and (exchange.status or 0) >= 400 and exchange.object not in seen:
            seen.add(exchange.object)
            kinds = ", ".join(SECRET_NAMES.get(k, k) for k in exchange.secrets)
            fix = fix_for(snap, "errors")
            yield Issue(
                object=exchange.object,
                detail=f"{exchange.object} answered {exchange.status} with {kinds}. "
                f"Rotate it; fix: {fix}.",
                evidence={
                    "request": exchange.object,
                    "status": exchange.status,
                    "kinds": list(exchange.secrets),
                    "fix": fix,
                },
            )


@check(
    "db_error_leak",
    title="Database errors reach the client",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def db_error_leak(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Driver errors and SQL text in a response tell an attacker the schema and the query
    shape to inject into."""
    for exchange in _errors(snap):
        match = DB_ERROR.search(exchange.body)
        if match:
            yield _body_issue(snap, exchange, "database error text", match.group(0))


@check(
    "sql_injection_suspected",
    title="A quote in a parameter breaks the SQL",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
    surface="http",
)
def sql_injection_suspected(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A single quote in a parameter produced a SQL syntax error: the value is pasted into
    the SQL text. Use parameterised queries ($1 / %s / ?) for every value."""
    for exchange in snap.exchanges:
        if "'" in exchange.path and SQL_SYNTAX.search(exchange.body):
            found = SQL_SYNTAX.search(exchange.body)
            yield _body_issue(
                snap, exchange, "a SQL syntax error for a quote", found.group(0) if found else ""
            )


@check(
    "internal_paths_leak",
    title="Error responses show server file paths",
    category=Category.SECURITY,
    severity=Severity.LOW,
    surface="http",
)
def internal_paths_leak(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Absolute paths of the server's files help an attacker map the deployment."""
    for exchange in _errors(snap):
        match = INTERNAL_PATH.search(exchange.body)
        if match and not STACK_TRACE.search(exchange.body):
            yield _body_issue(snap, exchange, "a server file path", match.group(0))


@check(
    "inconsistent_error_shape",
    title="Error responses of different shapes",
    category=Category.RELIABILITY,
    severity=Severity.INFO,
    surface="http",
)
def inconsistent_error_shape(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Clients handle errors by their shape; an API that answers some errors with JSON and
    others with HTML (or JSON with other keys) breaks them. One error format everywhere."""
    kinds: dict[str, Exchange] = {}
    for exchange in _errors(snap):
        kind = (exchange.header("content-type") or "none").split(";")[0].strip()
        kinds.setdefault(kind, exchange)
    if len(kinds) > 1:
        yield Issue(
            object=f"{snap.target} (errors)",
            detail=f"Error responses come as {', '.join(sorted(kinds))}.",
            evidence={k: e.object for k, e in sorted(kinds.items())},
        )


# -- rate limiting --


def _burst(snap: ProbeSnapshot, kind: str = "login") -> list[Exchange]:
    return [e for e in snap.by_purpose(f"ratelimit:{kind}:") if e.status]


def _unlimited(snap: ProbeSnapshot, burst: list[Exchange], endpoint: str, what: str) -> Issue:
    """A burst that met no 429: how many were sent, what came back, the framework's fix."""
    fix = fix_for(snap, "rate_limit")
    return Issue(
        object=f"{endpoint} (rate limit)",
        detail=f"{len(burst)} {what} in a row were all answered "
        f"({', '.join(sorted({str(e.status) for e in burst}))}), none with 429. Fix: {fix}.",
        evidence={
            "requests": len(burst),
            "statuses": sorted({e.status for e in burst}),
            "fix": fix,
        },
    )


@check(
    "no_rate_limit_on_login",
    title="Login has no rate limit",
    category=Category.SECURITY,
    severity=Severity.HIGH,
    surface="http",
)
def no_rate_limit_on_login(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A login endpoint that accepts unlimited attempts invites password guessing and
    credential stuffing. The probe sends a short burst (15 requests in 5 s by default) with
    a made-up account; no 429 means no limit at that rate."""
    burst = _burst(snap)
    if burst and not any(e.status == 429 for e in burst):
        yield _unlimited(snap, burst, str(snap.login), "login attempts")


@check(
    "no_rate_limit_on_writes",
    title="A write endpoint has no rate limit",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def no_rate_limit_on_writes(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """An endpoint that writes without a limit lets one client fill tables and queues (spam,
    scraping, a runaway script). Judged only on a write endpoint the user names with
    --endpoint 'POST /path': a short burst with an empty JSON body, no 429 means no limit."""
    burst = _burst(snap, "write")
    if burst and not any(e.status == 429 for e in burst):
        yield _unlimited(snap, burst, burst[0].object, "writes")


@check(
    "rate_limit_headers_missing",
    title="429 without Retry-After or RateLimit headers",
    category=Category.RELIABILITY,
    severity=Severity.LOW,
    surface="http",
)
def rate_limit_headers_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A 429 that does not say when to retry makes well-behaved clients retry blindly.
    Send Retry-After (and RateLimit/RateLimit-Policy)."""
    limited = next((e for e in _burst(snap) + _burst(snap, "write") if e.status == 429), None)
    if limited is not None and not any(limited.header(h) for h in RATE_HEADERS):
        yield Issue(
            object=f"{limited.object} (429)",
            detail="The 429 carries no retry header.",
            evidence={"request": limited.object},
        )


# -- health and docs --


@check(
    "health_endpoint_missing",
    title="No health endpoint",
    category=Category.OBSERVABILITY,
    severity=Severity.MEDIUM,
    surface="http",
)
def health_endpoint_missing(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """Load balancers and orchestrators need an endpoint that says whether this instance can
    serve (/health, /healthz, /ready). Add one that checks the database too."""
    health = snap.by_purpose("health:")
    if health and not any(e.status == 200 for e in health):
        yield Issue(
            object=f"{snap.target} (health)",
            detail=f"None of {', '.join(e.path for e in health)} answers 200.",
            evidence={e.path: e.status for e in health},
        )


@check(
    "health_endpoint_shallow",
    title="Health endpoint checks nothing",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    surface="http",
)
def health_endpoint_shallow(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """A health endpoint that answers `ok` without looking at its dependencies keeps a broken
    instance in rotation. Report the database (SELECT 1 with a short timeout) in it."""
    ok = next((e for e in snap.by_purpose("health:") if e.status == 200), None)
    if ok is None:
        return
    body = ok.body.lower()
    if not any(word in body for word in ("db", "database", "postgres", "checks", "redis")):
        yield Issue(
            object=ok.object,
            detail=f"{ok.object} answers {ok.body[:60]!r}.",
            evidence={"request": ok.object, "body": ok.body[:200]},
        )


@check(
    "api_docs_exposed",
    title="API documentation is public",
    category=Category.SECURITY,
    severity=Severity.INFO,
    surface="http",
)
def api_docs_exposed(snap: ProbeSnapshot, opts: Options) -> Iterator[Issue]:
    """An OpenAPI document or docs page lists every endpoint; fine for a public API, a map
    for attackers otherwise."""
    docs = next((e for e in snap.by_purpose("docs:") if e.status == 200), None)
    if docs is not None:
        yield Issue(
            object=docs.object,
            detail=f"{docs.object} answers 200.",
            evidence={"request": docs.object},
        )
