"""The cookies the app set during the probe, and which of them carry a session."""

from __future__ import annotations

from collections.abc import Iterator

from prodready.http.model import Exchange, ProbeSnapshot

SESSION_NAMES = (
    "sess",
    "sid",
    "connect.sid",
    "sessionid",
    "_session",
    "auth",
    "token",
    "jwt",
    "remember",
    "laravel_session",
    "phpsessid",
)
CSRF_NAMES = ("csrf", "xsrf")


def set_cookies(snap: ProbeSnapshot) -> Iterator[tuple[Exchange, str, str, str]]:
    """(exchange, name, value, attributes) for each Set-Cookie, once per cookie name."""
    seen: set[str] = set()
    for exchange in snap.exchanges:
        for header in exchange.all_headers("set-cookie"):
            pair, _, attributes = header.partition(";")
            name, _, value = pair.partition("=")
            name = name.strip()
            if name and name not in seen:
                seen.add(name)
                yield exchange, name, value, attributes.lower()


def is_session(name: str, value: str) -> bool:
    lowered = name.lower()
    if any(c in lowered for c in CSRF_NAMES):
        return False
    # by name, or by content: a long opaque or signed value (a JWT, a signed session id)
    return (
        any(n in lowered for n in SESSION_NAMES)
        or value.startswith("eyJ")
        or (len(value) >= 24 and "." in value)
    )
