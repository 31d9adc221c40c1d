"""Does a string read as SQL? Small, shared tests for the JS and Python fact extractors."""

from __future__ import annotations

import re

# Cheap whole-file pre-filter before looking at every string literal.
MAYBE_SQL = re.compile(r"(?i)\b(?:select|insert|update|delete)\b")
_SQL = re.compile(
    r"(?is)^\s*(?:with\b.+\bselect|select\b.+\bfrom\b|insert\s+into\b|update\s+\S+\s+set\b|"
    r"delete\s+from\b)"
)
_SELECT_STAR = re.compile(r"(?is)\bselect\s+(?:distinct\s+)?(?:\w+\.)?\*\s*(?:,|\bfrom\b)")


def looks_like_sql(text: str) -> bool:
    return bool(_SQL.match(text))


def selects_star(text: str) -> bool:
    return bool(_SELECT_STAR.search(text))


def shorten(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
