"""The plain-http side of a careful deployment: Starlette's HTTPSRedirectMiddleware."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware

app = Starlette(middleware=[Middleware(HTTPSRedirectMiddleware)])
