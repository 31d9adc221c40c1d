"""Numbers as people read them, shared by checks' details and the renderers."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """Sizes the way pg_size_pretty shows them (1024-based: bytes, kB, MB, GB, TB)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}  # fmt: skip


def parse_size(text: str) -> int:
    """'2GB', '500 MB', '1.5GiB', '1048576' -> bytes (1024-based, like PostgreSQL's units)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 500MB, 2GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


_DURATION_UNITS = {"": 1, "ms": 1, "s": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}


def parse_duration_ms(text: str) -> int:
    """'2s', '500ms', '1min', '250' (ms) -> milliseconds, PostgreSQL's time units."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _DURATION_UNITS:
        raise ValueError(f"not a duration: {text!r} (examples: 500ms, 2s, 1min)")
    return int(float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()])
