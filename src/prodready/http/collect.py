"""Send the probe's requests: few, bounded in count and time, identified, never destructive.

Only GET, OPTIONS and HEAD reach paths the user did not name; POST goes only to a login
endpoint (named with --login, or found: it answers GET with 405 or appears in the API's
OpenAPI document) with a made-up account, for the malformed-body and rate-limit probes.
Bodies are read up to a cap and redacted before they are kept.
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from prodready import __version__
from prodready.errors import TargetError, UsageError
from prodready.http.model import Exchange, ProbeSnapshot
from prodready.http.redact import redact_and_name
from prodready.http.tls import TlsFacts, read_tls

USER_AGENT = f"prodready-probe/{__version__} (production-readiness check)"
BODY_LIMIT = 64 * 1024
HEALTH_PATHS = ("/health", "/healthz", "/api/health", "/ready", "/livez")
DOC_PATHS = ("/openapi.json", "/swagger.json", "/api/openapi.json", "/docs")
LOGIN_PATHS = ("/api/login", "/login", "/auth/login", "/api/auth/login", "/api/v1/login")
EVIL_ORIGIN = "https://prodready-probe.example"
TEXT_TYPES = ("text/", "json", "xml", "javascript", "html")


@dataclass
class ProbeOptions:
    max_requests: int = 60
    max_seconds: float = 10.0
    request_timeout_s: float = 3.0
    login: str | None = None  # "POST /api/login"
    endpoints: list[str] = field(default_factory=list)  # "GET /api/orders/{id}"
    burst: int = 15  # requests at the login endpoint to find a rate limit
    burst_seconds: float = 5.0
    ca_file: str | None = None  # trust this CA bundle too (a staging CA)
    http_port: int = 80  # over https: where plain http should redirect from


# methods the probe sends only to endpoints the user names (never discovered ones)
WRITE_METHODS = ("POST", "PUT", "PATCH")


class Budget(Exception):
    """The request or time budget ran out; the snapshot keeps what was seen."""


class Prober:
    def __init__(self, target: str, options: ProbeOptions) -> None:
        self.target = target.rstrip("/") + "/"
        self.options = options
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.exchanges: list[Exchange] = []
        self.started = time.monotonic()
        # per request: a session-wide setting would lose to REQUESTS_CA_BUNDLE
        self.verify: bool | str = True

    def send(
        self, purpose: str, method: str, path: str, *, headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Exchange:  # fmt: skip
        if len(self.exchanges) >= self.options.max_requests:
            raise Budget(f"request budget of {self.options.max_requests} spent")
        left = self.options.max_seconds - (time.monotonic() - self.started)
        if left <= 0:
            raise Budget(f"time budget of {self.options.max_seconds:g} s spent")
        url = urljoin(self.target, path.lstrip("/"))
        # ask as a browser does, so a debug page shows itself as it would to a visitor
        sent = {"Accept": "text/html,application/json;q=0.9,*/*;q=0.8", **(headers or {})}
        start = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=sent, data=body, stream=True, allow_redirects=False,
                verify=self.verify,
                timeout=(min(self.options.request_timeout_s, left),
                         min(self.options.request_timeout_s, left)),
            )  # fmt: skip
        except requests.RequestException as exc:
            exchange = Exchange(purpose, method, url, sent, None, [], "",
                                _ms(start), error=_reason(exc))  # fmt: skip
            self.exchanges.append(exchange)
            return exchange
        text, truncated, binary = _read(response, start, self.options.request_timeout_s)
        kept, secrets_seen = redact_and_name(text)
        exchange = Exchange(
            purpose, method, url, sent, response.status_code,
            _header_pairs(response),
            kept, _ms(start), truncated, binary, secrets=secrets_seen,
        )  # fmt: skip
        self.exchanges.append(exchange)
        return exchange


def probe(target: str, options: ProbeOptions | None = None) -> ProbeSnapshot:
    """Run the probe plan against `target` within its budget; unreachable targets raise."""
    options = options or ProbeOptions()
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {target!r}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"not a valid port in {target!r}") from None
    prober = Prober(target, options)
    try:
        return _run(prober, target, parts.scheme, parts.hostname, port, options)
    finally:
        prober.session.close()  # no keep-alive connection left open on the app


def _run(
    prober: Prober, target: str, scheme: str, host: str, port: int | None, options: ProbeOptions
) -> ProbeSnapshot:
    notes: list[str] = []
    tls = None
    if scheme == "https":
        tls = _tls(host, port or 443, options)
        if not tls.verified:
            # the certificate is a finding; the rest of the app is still worth probing
            prober.verify = False
            warnings.simplefilter("ignore", InsecureRequestWarning)
            notes.append(f"TLS certificate not trusted ({tls.error}); probed without verifying")
        elif options.ca_file:
            prober.verify = options.ca_file
    home = prober.send("home", "GET", "/")
    if home.status is None:
        raise TargetError(f"cannot reach {target}: {home.error}")
    login = options.login
    try:
        for step in _plan(prober, options):
            login = step or login
    except Budget as exc:
        notes.append(f"stopped early: {exc}")
    return ProbeSnapshot(target, prober.exchanges, round(time.monotonic() - prober.started, 2),
                         login, notes, tls=tls)  # fmt: skip


def _tls(host: str, port: int, options: ProbeOptions) -> TlsFacts:
    try:
        return read_tls(host, port, options.ca_file, options.request_timeout_s)
    except OSError as exc:  # refused, timed out, not TLS at all
        raise TargetError(f"cannot reach {host}:{port} over TLS: {exc}") from None


def _plan(prober: Prober, options: ProbeOptions) -> Iterator[str | None]:
    """The probe's steps in order of value; each yields a login endpoint when it finds one."""
    if prober.target.startswith("https://"):
        host = urlsplit(prober.target).hostname or ""
        port = "" if options.http_port == 80 else f":{options.http_port}"
        prober.send("tls:plain_http", "GET", f"http://{host}{port}/")
    for path in HEALTH_PATHS:
        prober.send(f"health:{path}", "GET", path)
    for path in DOC_PATHS:
        prober.send(f"docs:{path}", "GET", path)
    nonce = secrets.token_hex(4)
    prober.send("error:unknown_route", "GET", f"/prodready-probe-{nonce}")
    prober.send("error:quote", "GET", "/?id='")
    prober.send("cors:simple", "GET", "/", headers={"Origin": EVIL_ORIGIN})
    prober.send("cors:preflight", "OPTIONS", "/", headers={
        "Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})  # fmt: skip
    prober.send("cors:null", "GET", "/", headers={"Origin": "null"})
    for endpoint in options.endpoints:
        yield from _endpoint(prober, endpoint)
    login = options.login or _find_login(prober)
    yield login
    if login:
        yield from _login_probes(prober, login, options)
    write = next((e for e in options.endpoints if _is_write(e)), None)
    if write:
        yield from _write_burst(prober, write, options)


def _endpoint(prober: Prober, endpoint: str) -> Iterator[None]:
    method, _, path = endpoint.strip().partition(" ")
    if not path or "{" not in path:
        prober.send(f"endpoint:{endpoint}", method.upper(), path or "/")
        return
    for label, value in (("valid", "1"), ("invalid", "not-an-id"), ("quote", "1'")):
        filled = path.split("{", 1)[0] + value + path.split("}", 1)[1]
        prober.send(f"error:id_{label}" if label != "valid" else f"endpoint:{endpoint}",
                    method.upper(), filled)  # fmt: skip
    yield None


def _is_write(endpoint: str) -> bool:
    method, _, path = endpoint.strip().partition(" ")
    return method.upper() in WRITE_METHODS and bool(path) and "{" not in path


def _write_burst(prober: Prober, endpoint: str, options: ProbeOptions) -> Iterator[None]:
    """The first write endpoint the user named, in a short burst with an empty JSON object
    (the least a handler can act on): a limit shows as a 429 before validation answers."""
    method, _, path = endpoint.strip().partition(" ")
    started = time.monotonic()
    for i in range(options.burst):
        if time.monotonic() - started > options.burst_seconds:
            break
        json_type = {"Content-Type": "application/json"}
        exchange = prober.send(f"ratelimit:write:{i}", method.upper(), path,
                               headers=json_type, body=b"{}")  # fmt: skip
        if exchange.status == 429:
            break
    yield None


def _find_login(prober: Prober) -> str | None:
    for path in LOGIN_PATHS:
        exchange = prober.send(f"discover:{path}", "GET", path)
        if exchange.status == 405 or (exchange.status == 200 and "password" in exchange.body):
            return f"POST {path}"
    return None


def _login_probes(prober: Prober, login: str, options: ProbeOptions) -> Iterator[None]:
    method, _, path = login.partition(" ")
    json_type = {"Content-Type": "application/json"}
    prober.send("error:malformed_json", method, path, headers=json_type, body=b'{"email": ')
    prober.send("error:wrong_types", method, path, headers=json_type,
                body=b'{"email": 12, "password": ["x"]}')  # fmt: skip
    wrong = b'{"email": "prodready-probe@example.invalid", "password": "not-the-password"}'
    started = time.monotonic()
    for i in range(options.burst):
        if time.monotonic() - started > options.burst_seconds:
            break
        exchange = prober.send(f"ratelimit:login:{i}", method, path, headers=json_type, body=wrong)
        if exchange.status == 429:
            break
    yield None


def _read(response: requests.Response, start: float, timeout: float) -> tuple[str, bool, bool]:
    """At most BODY_LIMIT bytes, within the timeout; text, truncated?, binary?."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    with suppress(requests.RequestException):
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            size += len(chunk)
            if size >= BODY_LIMIT or time.monotonic() - start > timeout:
                truncated = True
                break
    response.close()
    data = b"".join(chunks)[:BODY_LIMIT]
    kind = response.headers.get("Content-Type", "").lower()
    binary = b"\0" in data[:4096] or bool(kind and not any(t in kind for t in TEXT_TYPES))
    return ("" if binary else data.decode("utf-8", errors="replace")), truncated, binary


def _header_pairs(response: requests.Response) -> list[tuple[str, str]]:
    """Every header line, repeated ones (Set-Cookie) kept apart."""
    raw = getattr(response.raw, "headers", None)
    if raw is None or not hasattr(raw, "getlist"):
        return list(response.headers.items())
    return [(name, value) for name in raw for value in raw.getlist(name)]


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "certificate verify failed", "Max retries exceeded"):  # fmt: skip
        if marker in text:
            return marker.lower()
    return type(exc).__name__
