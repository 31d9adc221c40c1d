"""Which framework answers: from headers, cookies and error pages, for fixes that fit."""

from __future__ import annotations

from prodready.http.model import ProbeSnapshot

# (framework, how to tell) in the order the signs are trusted
SIGNS: tuple[tuple[str, str, str], ...] = (
    ("nextjs", "x-powered-by", "next.js"),
    ("express", "x-powered-by", "express"),
    ("django", "set-cookie", "csrftoken"),
    ("django", "server", "wsgiserver"),
    ("rails", "x-runtime", ""),
    ("flask", "server", "werkzeug"),
    ("fastapi", "server", "uvicorn"),
    ("fastapi", "server", "hypercorn"),
)

FIXES: dict[str, dict[str, str]] = {
    "headers": {
        "express": "app.use(helmet()) (npm i helmet) sets CSP, X-Frame-Options, nosniff, "
        "Referrer-Policy and HSTS",
        "nextjs": "return the headers from `headers()` in next.config.js for source '/(.*)'",
        "fastapi": "add a middleware that sets the headers on every response (e.g. the "
        "`secure` package's Secure().framework.fastapi)",
        "django": "SecurityMiddleware with SECURE_CONTENT_TYPE_NOSNIFF, "
        "SECURE_REFERRER_POLICY, X_FRAME_OPTIONS and django-csp",
        "rails": "config.action_dispatch.default_headers and the CSP initializer",
        "flask": "flask-talisman: Talisman(app)",
    },
    "rate_limit": {
        "express": "express-rate-limit on the route: rateLimit({ windowMs: 60_000, limit: 10 })",
        "nextjs": "a rate limiter in the route handler or middleware (e.g. @upstash/ratelimit)",
        "fastapi": "slowapi: @limiter.limit('10/minute') on the endpoint",
        "django": "django-ratelimit: @ratelimit(key='ip', rate='10/m') on the view",
        "rails": "rack-attack: throttle('logins/ip', limit: 10, period: 60)",
        "flask": "flask-limiter: @limiter.limit('10 per minute')",
    },
    "errors": {
        "express": "an error handler that logs the error and sends { error: 'internal' } "
        "(no err.stack), and NODE_ENV=production",
        "nextjs": "return a generic error body from route handlers; never err.stack",
        "fastapi": "debug=False and an exception handler returning a generic JSON error",
        "django": "DEBUG = False, with handler500 / a JSON error middleware",
        "rails": "config.consider_all_requests_local = false in production",
        "flask": "app.debug = False and an errorhandler(Exception) with a generic body",
    },
    "cors": {
        "express": "cors({ origin: ['https://your.app'], credentials: true }): a list, "
        "never a function that echoes the Origin",
        "nextjs": "set Access-Control-Allow-Origin to your own origins only",
        "fastapi": "CORSMiddleware(allow_origins=['https://your.app']) instead of "
        "allow_origin_regex='.*' with allow_credentials=True",
        "django": "django-cors-headers: CORS_ALLOWED_ORIGINS = [...], not "
        "CORS_ALLOW_ALL_ORIGINS with CORS_ALLOW_CREDENTIALS",
        "rails": "rack-cors: origins 'your.app' (not '*' or a regex matching anything)",
        "flask": "flask-cors: CORS(app, origins=[...], supports_credentials=True)",
    },
    "cookies": {
        "express": "cookie: { secure: true, httpOnly: true, sameSite: 'lax' } in the "
        "session options",
        "nextjs": "cookies().set(name, value, { secure: true, httpOnly: true, sameSite: 'lax' })",
        "fastapi": "response.set_cookie(..., secure=True, httponly=True, samesite='lax')",
        "django": "SESSION_COOKIE_SECURE = True, SESSION_COOKIE_HTTPONLY = True, "
        "SESSION_COOKIE_SAMESITE = 'Lax'",
        "rails": "config.session_store :cookie_store, secure: true, httponly: true, "
        "same_site: :lax",
        "flask": "SESSION_COOKIE_SECURE / HTTPONLY / SAMESITE in app.config",
    },
}
GENERIC = {
    "headers": "set the header on every HTML response in the app or the reverse proxy",
    "rate_limit": "limit requests per client IP and account on this endpoint, answering 429 "
                  "with Retry-After",
    "errors": "return a generic error body; log the details server-side only",
    "cors": "allow only your own origins; never echo the request's Origin with credentials",
    "cookies": "set Secure, HttpOnly and SameSite on session cookies",
}  # fmt: skip


def detect(snap: ProbeSnapshot) -> str | None:
    for framework, header, sign in SIGNS:
        for exchange in snap.exchanges:
            for value in exchange.all_headers(header):
                if sign in value.lower():
                    return framework
    bodies = " ".join(e.body[:2000] for e in snap.exchanges if e.status and e.status >= 400)
    if "Django" in bodies and "Traceback" in bodies:
        return "django"
    if "Werkzeug" in bodies:
        return "flask"
    return None


def fix_for(snap: ProbeSnapshot, kind: str) -> str:
    framework = detect(snap)
    specific = FIXES.get(kind, {}).get(framework or "")
    return f"{framework}: {specific}" if specific else GENERIC.get(kind, "")
