"""An API with the defaults real apps ship: permissive CORS, no security headers, the debug
error page, a login with no rate limit, a session cookie without flags, SQL built by hand,
a CDN script without integrity, a write endpoint that echoes its config on errors."""

from __future__ import annotations

import os
import traceback

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route

# hard-coded, and echoed in error bodies "to help debugging"
DATABASE_URL = "postgresql://shop:Sh0p-Passw0rd-2024@db.internal:5432/shop"


async def home(request: Request) -> HTMLResponse:
    response = HTMLResponse(
        "<html><head>"
        '<script src="https://cdn.jsdelivr.net/npm/htmx.org@1.9.10/dist/htmx.min.js"></script>'
        "</head><body><h1>Shop</h1></body></html>",
        headers={"X-Powered-By": "Starlette/0.37.2"},
    )
    response.set_cookie("session", "eyJ1c2VyIjoiYW5vbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ")
    # written by hand, as older code does: no attributes at all
    response.headers.append("set-cookie", "connect.sid=s%3Aabcdef0123456789abcdef.sig; Path=/")
    return response


async def item(request: Request) -> JSONResponse:
    # the classic mistake: the parameter pasted into the SQL text
    with psycopg.connect(os.environ["APP_DSN"]) as conn:
        row = conn.execute("SELECT '" + request.query_params.get("id", "1") + "'").fetchone()
    return JSONResponse({"item": row[0] if row else None})


async def login(request: Request) -> JSONResponse:
    body = await request.json()  # malformed JSON raises: the debug page shows the traceback
    if body.get("password") != "correct horse":
        return JSONResponse({"error": "invalid credentials"}, status_code=401)
    return JSONResponse({"ok": True})


async def report(request: Request) -> JSONResponse:
    try:
        return JSONResponse({"report": int(request.path_params["id"])})
    except ValueError as exc:  # the error and its stack, straight to the client
        return JSONResponse({"error": str(exc), "stack": traceback.format_exc()}, status_code=500)


async def notes(request: Request) -> JSONResponse:
    body = await request.json()
    if not body.get("text"):
        debug = {"database_url": DATABASE_URL, "body": body}
        return JSONResponse({"error": "text is required", "debug": debug}, status_code=400)
    return JSONResponse({"id": 1, "text": body["text"]}, status_code=201)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    debug=True,
    routes=[
        Route("/", home),
        Route("/api/items", item),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/notes", notes, methods=["POST"]),
        Route("/health", health),
        Route("/api/report/{id}", report),
    ],
    middleware=[
        Middleware(
            CORSMiddleware,
            allow_origin_regex=".*",
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    ],
)
