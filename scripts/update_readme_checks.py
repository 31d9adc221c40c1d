"""Regenerate README.md's check table from the registry (docs generated from code)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prodready.registry import catalog
from prodready.report.catalog import render_catalog

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- checks:start -->", "<!-- checks:end -->"


def expected_section() -> str:
    return f"{START}\n{render_catalog(catalog(), 'md').strip()}\n{END}"


def updated(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    text = head + expected_section() + tail
    return re.sub(r"\*\*\d+ checks\*\*", f"**{len(catalog())} checks**", text)


if __name__ == "__main__":
    new = updated(README.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == README.read_text() else "README check table is stale")
    README.write_text(new)
