"""The terminal renderer: score and blockers first, compact phase tables, no injected markup."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from prodready.model import Category, Severity
from prodready.report import render as render_format
from prodready.report._text import format_value, one_line, stats_age, visible
from prodready.report.terminal import big_digits, print_report, render
from tests.unit.test_report_fixtures import (
    HOSTILE_OBJECT,
    empty_report,
    finding,
    make_report,
    sample_report,
)


def test_header_shows_database_version_stats_age_score_and_counts() -> None:
    text = render(sample_report())
    assert "prodready · shop" in text
    assert "PostgreSQL 15.6" in text
    assert "statistics since 2026-01-01 (30 days)" in text
    assert "\n".join(big_digits("4.0")).split("\n")[0] in text
    for line in (
        "performance    4.8",
        "security       0.0",
        "reliability    3.8",
        "observability  8.8",
    ):
        assert line in text
    assert "2 critical · 4 high · 5 medium · 3 low · 2 info" in text
    assert "capped at 4.0" in text


def test_blockers_come_first_with_detail_and_fix() -> None:
    text = render(sample_report())
    blockers = text.index("What blocks production first")
    assert blockers < text.index("Phase 2: high priority") < text.index("Phase 3: hardening")
    section = text[blockers : text.index("Phase 2: high priority")]
    assert "1. Tenant table without row-level security — public.orders" in section
    assert "fix: ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;" in section
    # A multi-line fix is shown whole, on one line.
    assert "ALTER FUNCTION public.transfer_funds(bigint, bigint, numeric) SET search_path" in (
        " ".join(section.split())
    )


def test_phase_tables_have_one_line_per_finding() -> None:
    text = render(sample_report())
    phase4 = text[text.index("Phase 4: polish") :]
    row = next(line for line in phase4.splitlines() if "table_bloat" in line)
    assert row.split()[:3] == ["low", "table_bloat", "public.sessions"]
    assert "34% of public.sessions rows are dead" in row


def test_footer_counts_suppressed_and_names_blind_spots_and_failures() -> None:
    text = render(sample_report())
    assert "Suppressed: 2 findings" in text
    assert "Could not see: statements — pg_stat_statements is not installed" in text
    assert "Could not see: roles — permission denied for table pg_authid" in text
    assert "Check failed (results incomplete): replication_lag — KeyError: 'replay_lsn'" in text


def test_hostile_names_cannot_inject_markup_or_escapes() -> None:
    hostile = next(f for f in sample_report().findings if f.object == HOSTILE_OBJECT)
    report = make_report([replace(hostile, severity=Severity.CRITICAL)])  # a blocker: shown whole
    assert "\x1b" not in render(report)
    wide = Console(file=io.StringIO(), width=400, color_system=None)
    print_report(report, wide)
    text = wide.file.getvalue()  # type: ignore[attr-defined]
    # the whole name on one line: markup stays text, the newline inside it is shown, not obeyed
    name = 'public."<script>alert(1)</script> | *x* _y_ `z` ""q"" ü€😀\\nnext"'
    assert f"Index never used — {name}" in text
    assert "Name has | pipes, `ticks`, <b>tags</b> & 'quotes' and a second line." in text
    coloured = Console(file=io.StringIO(), width=400, force_terminal=True, color_system="truecolor")
    print_report(report, coloured)
    assert "ü€😀\\nnext" in coloured.file.getvalue()  # type: ignore[attr-defined]


def test_empty_report_says_so_positively() -> None:
    text = render(empty_report())
    assert "No findings: every check that ran passed. Nothing blocks production." in text
    assert "Phase" not in text and "Suppressed" not in text
    assert "0 critical · 0 high · 0 medium · 0 low · 0 info" in text


def test_no_blockers_but_other_findings() -> None:
    report = make_report([f for f in sample_report().findings if f.phase > 1])
    text = render(report)
    assert "✓ Nothing: no critical findings." in text
    assert "Phase 2: high priority" in text


def test_dispatch_by_format_name_and_no_trailing_spaces() -> None:
    text = render_format(sample_report(), "terminal")
    assert text == render(sample_report())
    assert all(line == line.rstrip() for line in text.splitlines())
    assert max(len(line) for line in text.splitlines()) <= 120


def test_visible_escapes_controls_and_bidi_overrides() -> None:
    assert visible("a\nb\tc\x1b[31m") == "a\\nb\\tc\\x1b[31m"
    assert visible("evil\u202etxt.sql") == "evil\\u202etxt.sql"
    assert visible("Bestellungen_ü€😀") == "Bestellungen_ü€😀"
    assert one_line("  two\n  lines\x07 ") == "two lines\\x07"


def test_format_value_for_people() -> None:
    assert format_value("rows", 8_400_000) == "8,400,000"
    assert format_value("size_bytes", 432_013_312) == "432,013,312 (412.0 MB)"
    assert format_value("size_bytes", 512) == "512"
    assert format_value("ratio", 0.123456) == "0.12"
    assert format_value("ratio", 0.000123) == "0.00012"
    assert format_value("pct", 98.70) == "98.7"
    assert format_value("ok", True) == "true"
    assert format_value("x", None) == "—"
    assert format_value("x", "") == "(empty)"
    assert format_value("cols", ["a", "b"]) == "a, b"
    assert format_value("roles", []) == "(none)"
    assert format_value("mixed", [{"a": 1}]) == '[{"a": 1}]'


def test_stats_age_wording() -> None:
    db = {"stats_since": "2026-01-31T06:00:00+00:00", "collected_at": "2026-01-31T12:00:00+00:00"}
    assert stats_age({"database": db}) == "statistics since 2026-01-31 (less than a day)"
    db["stats_since"] = "2026-01-30T06:00:00+00:00"
    assert stats_age({"database": db}) == "statistics since 2026-01-30 (1 day)"
    assert stats_age({}) is None


def test_rich_markup_in_names_is_printed_literally() -> None:
    name = "public.[bold red]t[/bold red]:smile:"
    report = make_report(
        [
            finding(
                "unused_index",
                Severity.CRITICAL,
                Category.PERFORMANCE,
                name,
                "Index never used",
                "[link=http://x]click[/link]",
            )
        ]
    )
    console = Console(file=io.StringIO(), width=400, force_terminal=True, color_system="truecolor")
    print_report(report, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "public.[bold red]t[/bold red]:smile:" in out
    assert "[link=http://x]click[/link]" in out
    assert "\x1b]8;" not in out  # no hyperlink escape was produced


def test_long_phases_show_five_rows_per_check_and_count_the_rest_by_schema() -> None:
    many = [
        finding("unindexed_foreign_key", Severity.MEDIUM, Category.PERFORMANCE,
                f"public.t{n:03} (parent_id)", "Foreign key without an index", "d")
        for n in range(25)
    ] + [
        finding("rls_disabled", Severity.CRITICAL, Category.SECURITY, f"public.r{n:03}",
                "RLS off", "d")
        for n in range(12)
    ]  # fmt: skip
    text = render(make_report(many))
    assert "public.t004 (parent_id)" in text and "public.t005 (parent_id)" not in text
    assert "… and 20 more" in text and "in public (20)" in text
    assert "public.r004" in text and "public.r005" not in text
    assert "… and 7 more rls_disabled findings" in text
