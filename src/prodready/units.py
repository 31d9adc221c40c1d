"""Numbers as people read them, shared by checks' details and the renderers."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """Sizes the way pg_size_pretty shows them (1024-based: bytes, kB, MB, GB, TB)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
