"""The dashboard server: a sampling thread with the one connection, and a small HTTP server."""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from prodready.errors import UsageError
from prodready.serve.audit import audit_on, newest_drill
from prodready.serve.collect import TOP_N, Monitor
from prodready.serve.metrics import render_metrics
from prodready.serve.page import render_fragment, render_page
from prodready.serve.state import History, statement_deltas, view

SLOW_EVERY_S = 60.0  # sizes and vacuum stats: they touch files or every table's counters


@dataclass(frozen=True)
class ServeOptions:
    dsn: str
    host: str = "127.0.0.1"
    port: int = 8080
    refresh_s: float = 5.0
    token: str | None = None
    backups: Path | None = None
    audit_every_s: float = 900.0


def require_safe_bind(host: str, token: str | None) -> None:
    """Anything but loopback exposes the database's activity: demand a token."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not token:
        raise UsageError(f"--host {host} is not a loopback address: give --token to protect it")


class Sampler(threading.Thread):
    """Refreshes the History every `refresh_s`; audits now and then on the same connection."""

    def __init__(self, monitor: Monitor, history: History, options: ServeOptions) -> None:
        super().__init__(name="prodready-sampler", daemon=True)
        self.monitor, self.history, self.options = monitor, history, options
        self.stop_event = threading.Event()
        self.last_slow = 0.0
        self.last_audit = 0.0

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            self.tick()
            self.stop_event.wait(max(0.0, self.options.refresh_s - (time.monotonic() - started)))
        self.monitor.close()

    def tick(self) -> None:
        now = time.monotonic()
        slow = now - self.last_slow >= SLOW_EVERY_S
        sample = self.monitor.sample(slow=slow)
        if sample.up and slow:
            self.last_slow = now
        self.history.add(sample)
        if not sample.up:
            return
        prev, cur = self.history.last_up_pair()
        top = statement_deltas(prev.statements if prev else None, cur.statements if cur else None)
        self.monitor.fetch_texts([d.queryid for d in top[:TOP_N]])
        self.history.texts = dict(self.monitor.texts)
        self.history.drill = newest_drill(self.options.backups)
        if now - self.last_audit >= self.options.audit_every_s or self.last_audit == 0.0:
            self.last_audit = now
            self.history.readiness = audit_on(self.monitor, self.options.backups)


def make_handler(history: History, options: ServeOptions) -> type[BaseHTTPRequestHandler]:
    refresh_ms = int(options.refresh_s * 1000)

    class Handler(BaseHTTPRequestHandler):
        server_version = "prodready"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                latest = history.latest()
                body = {"status": "ok", "database": "up" if latest and latest.up else "down"}
                return self._send(200, "application/json", json.dumps(body))
            if not self._authorised(url.query):
                return self._send(401, "text/plain", "token required\n")
            if url.path == "/metrics":
                from prometheus_client import CONTENT_TYPE_LATEST

                return self._send(200, CONTENT_TYPE_LATEST, render_metrics(history))
            data = view(history, time.time())
            if url.path == "/":
                return self._send(200, "text/html; charset=utf-8", render_page(data, refresh_ms))
            if url.path == "/fragment":
                return self._send(200, "text/html; charset=utf-8", render_fragment(data))
            if url.path == "/api/state":
                return self._send(200, "application/json", json.dumps(data, default=str))
            return self._send(404, "text/plain", "not found\n")

        def _authorised(self, query: str) -> bool:
            if not options.token:
                return True
            given = parse_qs(query).get("token", [""])[0]
            header = self.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                given = header[len("Bearer ") :]
            return hmac.compare_digest(given.encode(), options.token.encode())

        def _send(self, status: int, content_type: str, body: str | bytes) -> None:
            payload = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # request lines would carry ?token=

    return Handler


class Dashboard:
    """The server and its sampler; `start()` returns once the first sample is in."""

    def __init__(self, options: ServeOptions) -> None:
        require_safe_bind(options.host, options.token)
        self.options = options
        self.history = History()
        self.monitor = Monitor(options.dsn)
        self.sampler = Sampler(self.monitor, self.history, options)
        try:
            self.httpd = ThreadingHTTPServer(
                (options.host, options.port), make_handler(self.history, options)
            )
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {options.host}:{options.port}: {exc.strerror}"
            ) from None
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> Dashboard:
        self.sampler.start()
        threading.Thread(
            target=self.httpd.serve_forever, name="prodready-http", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.sampler.stop_event.set()
        self.sampler.join(timeout=10)
