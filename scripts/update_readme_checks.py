"""Regenerate README.md's check and migration-lint tables from their registries."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prodready.registry import every_check
from prodready.report.catalog import render_catalog

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- checks:start -->", "<!-- checks:end -->"
LINT_START, LINT_END = "<!-- lint-rules:start -->", "<!-- lint-rules:end -->"


def expected_section() -> str:
    return f"{START}\n{render_catalog(every_check(), 'md').strip()}\n{END}"


def expected_lint_section() -> str:
    from prodready.migrate.lint_rules import RULES

    rows = ["| rule | what it catches |", "| --- | --- |"]
    for rule in RULES.values():
        first = " ".join(rule.description.split("\n\n")[0].split())
        rows.append(f"| `{rule.id}` | **{rule.title}.** {first} |")
    return f"{LINT_START}\n" + "\n".join(rows) + f"\n{LINT_END}"


def _replace(text: str, start: str, end: str, section: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + section + tail


def updated(text: str) -> str:
    text = _replace(text, START, END, expected_section())
    text = _replace(text, LINT_START, LINT_END, expected_lint_section())
    return re.sub(r"\*\*\d+ checks\*\*", f"**{len(every_check())} checks**", text)


if __name__ == "__main__":
    new = updated(README.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == README.read_text() else "README check table is stale")
    README.write_text(new)
