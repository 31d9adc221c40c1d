"""`prodready checks`: the catalog as JSON (DESIGN.md contract), README markdown and a table."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from prodready.errors import UsageError
from prodready.model import Category, CheckInfo, Severity
from prodready.registry import Check
from prodready.report.catalog import first_paragraph, render_catalog


def make_check(id: str, category: Category, severity: Severity, title: str, doc: str) -> Check:
    return Check(CheckInfo(id, title, category, severity, doc), lambda snap, opts: [])


CHECKS = [
    make_check(
        "unused_index",
        Category.PERFORMANCE,
        Severity.MEDIUM,
        "Index never used",
        "An index nobody reads still costs | writes and *disk*.\nDrop it concurrently.\n\n"
        "Keep it when a rare report needs it; suppress with a reason.",
    ),
    make_check(
        "rls_disabled",
        Category.SECURITY,
        Severity.CRITICAL,
        "Tenant table without RLS",
        "Tenant rows leak across <tenants> without row-level security.",
    ),
    make_check(
        "archive_disabled",
        Category.RELIABILITY,
        Severity.HIGH,
        "No WAL archiving",
        "Without archiving there is no point-in-time recovery.",
    ),
]


def test_json_is_the_design_contract_in_given_order() -> None:
    data = json.loads(render_catalog(CHECKS, "json"))
    assert [c["id"] for c in data] == ["unused_index", "rls_disabled", "archive_disabled"]
    assert all(list(c) == ["id", "title", "category", "severity", "description"] for c in data)
    assert data[1] == {
        "id": "rls_disabled",
        "title": "Tenant table without RLS",
        "category": "security",
        "severity": "critical",
        "description": "Tenant rows leak across <tenants> without row-level security.",
    }
    assert data[0]["description"].endswith("suppress with a reason.")  # the full description


def test_markdown_table_groups_by_category_with_first_paragraph() -> None:
    text = render_catalog(CHECKS, "md")
    lines = text.splitlines()
    assert lines[0] == "| Check | Category | Severity | Title | What it means |"
    assert lines[2] == (
        "| `unused_index` | performance | medium | Index never used | "
        "An index nobody reads still costs \\| writes and \\*disk\\*. Drop it concurrently. |"
    )
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "`unused_index`",
        "`rls_disabled`",
        "`archive_disabled`",
    ]
    assert "suppress with a reason" not in text
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<tr>") == 4 and "&lt;tenants&gt;" in html and "<tenants>" not in html


def test_terminal_table() -> None:
    text = render_catalog(CHECKS, "terminal")
    assert "check" in text and "what it means" in text
    row = next(line for line in text.splitlines() if line.startswith("rls_disabled"))
    assert row.split()[:3] == ["rls_disabled", "security", "critical"]
    assert "Tenant rows leak across <tenants> without row-level security." in text
    assert text.rstrip().endswith("3 checks")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown catalog format 'html'"):
        render_catalog(CHECKS, "html")


def test_first_paragraph() -> None:
    assert first_paragraph("One\nline.\n\nTwo.") == "One line."
    assert first_paragraph("") == ""


def test_empty_catalog() -> None:
    assert json.loads(render_catalog([], "json")) == []
    assert render_catalog([], "md").count("\n") == 2
