"""The MDN HTTP Observatory's score and grade for the page, from its published methodology
(start at 100, penalties per test, bonuses only from 90 up; grade bands A+ to F).

Computed from the same GET / the probe made, so a team sees the number it is used to next
to prodready's. On plain http the Observatory still counts HSTS and the https redirect as
missing; prodready calls them not applicable, which is why the two can differ there.
"""

from __future__ import annotations

from typing import Any

from prodready.http.cookies import is_session, set_cookies
from prodready.http.model import Exchange, ProbeSnapshot

GRADES = (
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
)


def observatory(snap: ProbeSnapshot) -> dict[str, Any]:
    home = snap.first("home")
    if home is None or home.status is None:
        return {"score": None, "grade": None, "modifiers": []}
    modifiers = [
        ("content-security-policy", _csp(home)),
        ("cookies", _cookies(snap)),
        ("cross-origin-resource-sharing", _cors(snap)),
        ("strict-transport-security", 0 if home.header("strict-transport-security") else -20),
        ("redirection", 0 if snap.https else -20),
        ("referrer-policy", _referrer(home)),
        (
            "x-content-type-options",
            0 if (home.header("x-content-type-options") or "").lower() == "nosniff" else -5,
        ),
        ("x-frame-options", _frames(home)),
    ]
    penalties = sum(m for _, m in modifiers if m < 0)
    bonuses = sum(m for _, m in modifiers if m > 0)
    score = max(0, 100 + penalties)
    if score >= 90:
        score += bonuses
    grade = next(g for floor, g in GRADES if score >= floor)
    return {"score": score, "grade": grade, "modifiers": [list(m) for m in modifiers if m[1]]}


def _csp(home: Exchange) -> int:
    policy = (home.header("content-security-policy") or "").lower()
    if not policy:
        return -25
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.split()}
    scripts = directives.get("script-src", directives.get("default-src", []))
    if "'unsafe-inline'" in scripts:
        return -20
    if any(s.startswith("http:") for v in directives.values() for s in v):
        return -20
    if "'unsafe-eval'" in scripts:
        return -10
    return 10 if directives.get("default-src") == ["'none'"] else 5


def _cookies(snap: ProbeSnapshot) -> int:
    found = list(set_cookies(snap))
    if not found:
        return 0
    worst = 0
    for _, name, value, attributes in found:
        session = is_session(name, value)
        if "secure" not in attributes or not snap.https:
            worst = min(worst, -40 if session else -20)
        elif session and "httponly" not in attributes:
            worst = min(worst, -30)
    if worst == 0 and all("samesite" in a for *_, a in found):
        return 5
    return worst


def _cors(snap: ProbeSnapshot) -> int:
    exchange = snap.first("cors:simple")
    if exchange is None:
        return 0
    allowed = exchange.header("access-control-allow-origin") or ""
    universal = allowed == "*" or allowed == exchange.request_headers.get("Origin")
    return -50 if universal else 0


def _referrer(home: Exchange) -> int:
    policy = (home.header("referrer-policy") or "").lower().split(",")[-1].strip()
    if policy in ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"):
        return 5
    return -5 if policy in ("unsafe-url", "no-referrer-when-downgrade") else 0


def _frames(home: Exchange) -> int:
    if "frame-ancestors" in (home.header("content-security-policy") or "").lower():
        return 5
    value = (home.header("x-frame-options") or "").lower()
    return 0 if value in ("deny", "sameorigin") or value.startswith("allow-from") else -20
