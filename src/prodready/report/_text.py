"""Text helpers every renderer shares: make user-controlled strings visible, format evidence."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from prodready.units import human_bytes


def band(value: float) -> str:
    """The colour band of a 0-10 score: a capped score reads as bad, 8 and up as good."""
    return "bad" if value < 5 else "fair" if value < 8 else "good"


_WS = re.compile(r"\s+")


def visible(text: str, keep: str = "") -> str:
    """`text` with control and invisible formatting characters (except `keep`) shown as escapes.

    Object names are user-controlled: a newline, ESC or a right-to-left override must
    show up as `\\n`, `\\x1b`, `\\u202e` rather than act on the reader's screen.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else _escape_char(ch) for ch in text)


def visible_sql(sql_text: str) -> str:
    """SQL for display: its lines and indentation kept, other invisible characters escaped."""
    return "\n".join(visible(line, keep="\t") for line in sql_text.strip("\n").splitlines())


def _escape_char(ch: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """Prose on one line: whitespace runs collapsed, other invisible characters escaped."""
    return visible(_WS.sub(" ", text).strip())


def stats_age(target: dict[str, Any]) -> str | None:
    """'statistics since 2026-01-01 (30 days)', or None when the target has no database."""
    db = target.get("database") or {}
    since = db.get("stats_since")
    if not since:
        return None
    days = _days_between(since, db.get("collected_at"))
    if days is None:
        return f"statistics since {since[:10]}"
    span = "less than a day" if days < 1 else f"{days} day{'s' if days != 1 else ''}"
    return f"statistics since {since[:10]} ({span})"


def timestamp(iso: str) -> str:
    """'2026-01-31 12:00 UTC' from an ISO-8601 timestamp (unchanged when unparseable)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.utcoffset() is not None:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _days_between(start: str, end: str | None) -> int | None:
    try:
        delta = datetime.fromisoformat(end or "") - datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return None
    return max(0, delta.days)


def format_value(key: str, value: Any) -> str:
    """An evidence value for people: thousands separators, sizes, compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = f"{value:,}"
        return f"{text} ({human_bytes(value)})" if key.endswith("bytes") and value >= 1024 else text
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        return one_line(value) if value.strip() else "(empty)"
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return ", ".join(format_value(key, v) for v in value) if value else "(none)"
    return visible(json.dumps(value, ensure_ascii=False, default=str))


def _format_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.2g}" if text in ("0", "-0") and value else text


def target_name(target: dict[str, Any]) -> str:
    """What the report is about: the database, else the app's URL, else the scanned tree."""
    db = target.get("database") or {}
    http = target.get("http") or {}
    repo = target.get("repo") or {}
    return str(db.get("name") or http.get("url") or repo.get("root") or "unknown")
