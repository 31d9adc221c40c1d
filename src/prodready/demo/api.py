"""A minimal HTTP API over the demo marketplace, so `prodready demo` can load-test it.

A few read endpoints, each running one of the workload's queries (demo/workload.py) on a
small pool of the backend's own connections. Served by uvicorn on 127.0.0.1 in a
subprocess (its own core and GIL); the DSN comes in through the environment, never argv.

    PRODREADY_DEMO_API_DSN=postgresql://... python -m prodready.demo.api --port 8000
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prodready.demo.workload import WORKLOAD
from prodready.pg.cluster import free_port

DSN_ENV = "PRODREADY_DEMO_API_DSN"
POOL_SIZE = 4
START_TIMEOUT_S = 20.0
_SQL = {q.name: q.sql for q in WORKLOAD}
ALL_STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]


class _Pool:
    """A handful of autocommit connections; a request borrows one for its query."""

    def __init__(self, dsn: str, size: int) -> None:
        self.free: queue.Queue[psycopg.Connection] = queue.Queue()
        for _ in range(size):
            self.free.put(psycopg.connect(dsn, autocommit=True, application_name="demo-api"))

    def rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        conn = self.free.get(timeout=30)
        try:
            cursor = conn.execute(query, params)
            names = [c.name for c in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            self.free.put(conn)


def create_app(dsn: str) -> Starlette:
    pool = _Pool(dsn, POOL_SIZE)

    def endpoint(name: str, **fixed: Any) -> Any:
        def handle(request: Request) -> Response:
            params: dict[str, Any] = {**fixed}
            for key, value in request.path_params.items():
                params[key] = value
            return _json(pool.rows(_SQL[name], params))

        return handle

    async def login(request: Request) -> Response:
        # the careless login real apps ship: no rate limit, the raw error on bad JSON, and
        # the body printed to the console
        body = await request.json()
        print("login attempt", body)  # console logging, the request body (a password) included
        rows = pool.rows(
            "SELECT id FROM public.users WHERE email = %(email)s", {"email": body.get("email")}
        )
        status = 401 if not rows or body.get("password") != "demo" else 200
        return Response(json.dumps({"ok": status == 200}), status, media_type="application/json")

    # the careless defaults the readiness plans find: the debug page on, CORS open to any
    # origin with credentials, no security headers (the probe reports each)
    return Starlette(
        debug=True,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origin_regex=".*",
                allow_credentials=True,
                allow_methods=["*"],
                allow_headers=["*"],
            ),
        ],
        routes=[
            Route("/health", lambda _request: Response("ok")),
            Route("/api/login", login, methods=["POST"]),
            Route("/products/{product_id:int}", endpoint("product_detail")),
            Route("/products/{product_id:int}/reviews", endpoint("product_reviews")),
            Route("/categories/{category_id:int}/products", endpoint("category_feed")),
            Route("/orders/{order_id:int}/items", endpoint("order_detail")),
            Route("/users/{uid}/orders", endpoint("buyer_orders", statuses=ALL_STATUSES)),
        ],
    )


def _json(rows: list[dict[str, Any]]) -> Response:
    # dates and decimals as strings: Starlette's JSONResponse refuses them
    return Response(json.dumps(rows, default=str), media_type="application/json")


@dataclass(frozen=True)
class DemoApi:
    """A running demo API: where it listens, and its process."""

    url: str
    pid: int


@contextmanager
def running_api(dsn: str) -> Iterator[DemoApi]:
    """Start the API in a subprocess on a free loopback port; stop it (by PID) on exit."""
    port = free_port()
    env = {**os.environ, DSN_ENV: dsn}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prodready.demo.api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc)
        yield DemoApi(url=url, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo API exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the demo API did not start in time")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(os.environ[DSN_ENV])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
