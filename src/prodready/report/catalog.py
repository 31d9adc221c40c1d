"""`prodready checks`: the catalog as a terminal table, JSON, or the README's markdown table."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Protocol

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from prodready.errors import UsageError
from prodready.model import Category, CheckInfo
from prodready.report._text import one_line
from prodready.report.markdown import md_text
from prodready.report.terminal import SEVERITY_STYLE, WIDTH

CATALOG_FORMATS = ("terminal", "json", "md")
_CATEGORY_ORDER = {c.value: n for n, c in enumerate(Category)}


class Described(Protocol):
    """A registered check of any surface (database, HTTP, source): what the catalog shows."""

    @property
    def info(self) -> CheckInfo: ...


def render_catalog(checks: Sequence[Described], fmt: str) -> str:
    """The catalog in `fmt`: json keeps the given order, md and terminal group by category."""
    if fmt == "json":
        payload = [c.info.to_json() for c in checks]
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return _markdown(_by_category(checks))
    if fmt == "terminal":
        console = Console(file=io.StringIO(), width=WIDTH, color_system=None, emoji=False)
        print_catalog(checks, console)
        text: str = console.file.getvalue()  # type: ignore[attr-defined]
        return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    expected = ", ".join(CATALOG_FORMATS)
    raise UsageError(f"unknown catalog format {fmt!r} (expected one of: {expected})")


def print_catalog(checks: Sequence[Described], console: Console) -> None:
    """The catalog as a rich table on `console` (colour is the caller's choice)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("category", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("what it means", ratio=1)
    for check in _by_category(checks):
        info = check.info
        summary = Text(info.title, style="bold")
        summary.append("\n" + first_paragraph(info.description))
        table.add_row(
            info.id,
            info.category.value,
            Text(info.severity.label, style=SEVERITY_STYLE[info.severity.label]),
            summary,
        )
    console.print(table, highlight=False)
    console.print(Text(f"{len(checks)} checks", style="dim"))


def first_paragraph(description: str) -> str:
    """The description up to its first blank line, on one line."""
    return one_line(description.strip().split("\n\n", 1)[0]) if description else ""


def _markdown(checks: Sequence[Described]) -> str:
    rows = [
        "| Check | Category | Severity | Title | What it means |",
        "|---|---|---|---|---|",
    ]
    for check in checks:
        info = check.info
        cells = [
            f"`{info.id}`",
            info.category.value,
            info.severity.label,
            md_text(info.title),
            md_text(first_paragraph(info.description)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _by_category(checks: Sequence[Described]) -> Sequence[Described]:
    return sorted(checks, key=lambda c: (_CATEGORY_ORDER[c.info.category.value], c.info.id))
