"""The same API done carefully: security headers, fixed CORS origins, generic JSON errors,
rate-limited login and writes, flagged cookies, parameterised SQL, a health check that asks
the DB, a CDN script pinned by its integrity hash."""

from __future__ import annotations

import os
import time
from collections import defaultdict, deque

import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
ATTEMPTS: dict[tuple[str, str], deque[float]] = defaultdict(deque)
LIMIT, WINDOW_S = 5, 60.0


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response


async def home(request: Request) -> HTMLResponse:
    response = HTMLResponse(
        "<html><head>"
        '<script src="https://cdn.jsdelivr.net/npm/htmx.org@1.9.10/dist/htmx.min.js" '
        'integrity="sha384-D1Kt99CQMDuVetoL1lrYwg5t+9QdHe7NLX/SoJYkXDFfX37iInKRy5xLSi8nO7UC" '
        'crossorigin="anonymous"></script>'
        "</head><body><h1>Shop</h1></body></html>"
    )
    response.set_cookie(
        "session",
        "eyJ1c2VyIjoiYW5vbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


async def item(request: Request) -> JSONResponse:
    with psycopg.connect(os.environ["APP_DSN"]) as conn:
        row = conn.execute("SELECT %s::text", (request.query_params.get("id", "1"),)).fetchone()
    return JSONResponse({"item": row[0] if row else None})


def _limited(request: Request, bucket: str) -> JSONResponse | None:
    """429 with Retry-After once a client spent LIMIT requests on `bucket` in WINDOW_S."""
    client = request.client.host if request.client else "?"
    now, recent = time.monotonic(), ATTEMPTS[(bucket, client)]
    while recent and now - recent[0] > WINDOW_S:
        recent.popleft()
    if len(recent) >= LIMIT:
        return JSONResponse(
            {"error": "too many attempts"},
            status_code=429,
            headers={"Retry-After": str(int(WINDOW_S))},
        )
    recent.append(now)
    return None


async def login(request: Request) -> JSONResponse:
    limited = _limited(request, "login")
    if limited is not None:
        return limited
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "bad request"}, status_code=400)
    if not isinstance(body, dict) or body.get("password") != "correct horse":
        return JSONResponse({"error": "invalid credentials"}, status_code=401)
    return JSONResponse({"ok": True})


async def notes(request: Request) -> JSONResponse:
    limited = _limited(request, "writes")
    if limited is not None:
        return limited
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "bad request"}, status_code=400)
    if not isinstance(body, dict) or not body.get("text"):
        return JSONResponse({"error": "text is required"}, status_code=400)
    return JSONResponse({"id": 1, "text": body["text"]}, status_code=201)


async def health(request: Request) -> JSONResponse:
    with psycopg.connect(os.environ["APP_DSN"], connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return JSONResponse({"status": "ok", "database": "ok"})


async def not_found(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"error": "not found" if status == 404 else "error"}, status_code=status)


app = Starlette(
    debug=False,
    routes=[
        Route("/", home),
        Route("/api/items", item),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/notes", notes, methods=["POST"]),
        Route("/healthz", health),
    ],
    middleware=[
        Middleware(SecurityHeaders),
        Middleware(CORSMiddleware, allow_origins=["https://shop.example"], allow_credentials=True),
    ],
    exception_handlers={HTTPException: not_found, Exception: not_found},
)
