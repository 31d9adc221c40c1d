"""Keep secrets out of what the probe stores: passwords in URLs, tokens, key-like values."""

from __future__ import annotations

import re

from prodready.code.secrets import jwt_payload

_URL_PASSWORD = re.compile(r"(\w+://[^:/\s@]+:)([^@\s]+)(@)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")
_ASSIGNED = re.compile(
    r"""(?i)((?:password|passwd|secret|token|api[_-]?key|authorization)["']?\s*[:=]\s*["']?)"""
    r"""([^"'\s,}&]{4,})"""
)


_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(?:-----END [A-Z ]*PRIVATE KEY-----)?"
)


def redact_and_name(text: str) -> tuple[str, tuple[str, ...]]:
    """The redacted text, and the kinds of unmistakable secret it held (a URL with its
    password, a JWT, a private key). `password: ...` assignments are redacted but not named:
    validation messages ("password: field required") look the same."""
    kinds = [
        kind
        for kind, found in (
            ("url_password", _URL_PASSWORD.search(text) is not None),
            ("jwt", any(not _public_jwt(m.group(0)) for m in _JWT.finditer(text))),
            ("private_key", _PRIVATE_KEY.search(text) is not None),
        )
        if found
    ]
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)[:2]}***{m.group(3)}", text)
    text = _JWT.sub(lambda m: m.group(0)[:4] + "…[redacted]", text)
    text = _PRIVATE_KEY.sub("-----BEGIN PRIVATE KEY-----…[redacted]", text)
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)[:4]}…[redacted]", text)
    return text, tuple(kinds)


def _public_jwt(token: str) -> bool:
    """A Supabase anon key is public by design (it ships in every frontend)."""
    return (jwt_payload(token) or {}).get("role") == "anon"
