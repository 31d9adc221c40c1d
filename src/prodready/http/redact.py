"""Keep secrets out of what the probe stores: passwords in URLs, tokens, key-like values."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(\w+://[^:/\s@]+:)([^@\s]+)(@)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")
_ASSIGNED = re.compile(
    r"""(?i)((?:password|passwd|secret|token|api[_-]?key|authorization)["']?\s*[:=]\s*["']?)"""
    r"""([^"'\s,}&]{4,})"""
)


def redact(text: str) -> str:
    """The text with each secret cut to its first four characters."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)[:2]}***{m.group(3)}", text)
    text = _JWT.sub(lambda m: m.group(0)[:4] + "…[redacted]", text)
    return _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)[:4]}…[redacted]", text)
