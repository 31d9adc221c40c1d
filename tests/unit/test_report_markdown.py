"""PLAN.md: structure a team can work from, and escaping checked by a real CommonMark parser."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from prodready.model import Category, Fix, Severity
from prodready.report.markdown import code_span, md_inline_code, md_name, md_text, render
from tests.unit.test_report_fixtures import (
    HOSTILE_OBJECT,
    empty_report,
    finding,
    make_report,
    sample_report,
)

PARSER = MarkdownIt("commonmark").enable("table")


def html_of(markdown: str) -> str:
    return PARSER.render(markdown)


def test_sections_in_order() -> None:
    text = render(sample_report())
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == [
        "Score",
        "Blockers",
        "Phase 1: blockers",
        "Phase 2: high priority",
        "Phase 3: hardening",
        "Phase 4: polish",
        "Suppressed findings",
        "Limitations",
        "Check failures",
    ]
    assert text.startswith("# Production readiness plan: shop\n\nPostgreSQL 15.6 · statistics")


def test_score_tables() -> None:
    text = render(sample_report())
    assert "**4.0 / 10** overall (capped at 4.0 while critical findings remain)." in text
    assert "| Security | 0.0 / 10 |" in text and "| Observability | 8.8 / 10 |" in text
    assert (
        "| Critical | High | Medium | Low | Info |\n|---:|---:|---:|---:|---:|\n"
        "| 2 | 4 | 5 | 3 | 2 |" in text
    )


def test_blockers_summary_lists_phase_one() -> None:
    text = render(sample_report())
    assert "2 findings block production. Fix these before going live:" in text
    assert "1. **Tenant table without row-level security** — public.orders\n" in text
    assert "2. **SECURITY DEFINER function without a fixed search_path** — " in text


def test_item_has_checkbox_detail_evidence_fix_rollback_acceptance() -> None:
    text = render(sample_report())
    start = text.index("- [ ] **Foreign key without an index** — public.order_items")
    item = text[start : text.index("\n- [ ]", start + 1)]
    assert "`unindexed_foreign_key` · high · performance" in item
    assert "Deleting an order scans all 8,400,000 rows" in item
    assert "  - table\\_rows: 8,400,000" not in item  # word-internal underscores stay readable
    assert "  - table_rows: 8,400,000\n" in item
    assert "  - table_bytes: 1,932,735,283 (1.8 GB)\n" in item
    assert "Fix (run outside a transaction, one statement at a time):" in item
    assert (
        "  ```sql\n  CREATE INDEX CONCURRENTLY order_items_order_id_idx\n"
        "      ON public.order_items (order_id);\n  ```"
    ) in item
    assert (
        "  Rollback:\n\n  ```sql\n  DROP INDEX CONCURRENTLY public.order_items_order_id_idx;"
        in item
    )
    assert (
        "  Acceptance: `prodready audit` no longer reports "
        "`unindexed_foreign_key:public.order_items (order_id)`" in item
    )
    rendered = html_of(item)
    assert '<code class="language-sql">CREATE INDEX CONCURRENTLY' in rendered
    assert "<li>table_rows: 8,400,000</li>" in rendered


def test_review_flag_and_verify_in_acceptance() -> None:
    text = render(sample_report())
    assert "Fix (review before applying):" in text
    assert (
        "Acceptance: SELECT relrowsecurity FROM pg_class WHERE oid = 'public.orders'::regclass;"
        " and `prodready audit` no longer reports `rls_disabled:public.orders`"
    ) in text


def test_every_finding_is_one_checkbox() -> None:
    report = sample_report()
    assert render(report).count("\n- [ ] ") == len(report.findings)


def test_suppressed_limitations_and_failures() -> None:
    text = render(sample_report())
    assert (
        "| table\\_without\\_primary\\_key:audit.log\\_2025 | high | "
        "append-only archive partition \\| never updated |" not in text
    )
    assert (
        "| table_without_primary_key:audit.log_2025 | high | "
        "append-only archive partition \\| never updated |" in text
    )
    rendered = html_of(text)
    assert "<td>append-only archive partition | never updated</td>" in rendered
    assert "<td>used by the month-end report &lt;script&gt;x&lt;/script&gt;</td>" in rendered
    assert "- **statements**: pg_stat_statements is not installed in database shop" in text
    assert "- `replication_lag`: KeyError: 'replay_lsn'" in text


def test_hostile_strings_render_as_text() -> None:
    text = render(sample_report())
    rendered = html_of(text)
    assert "<script" not in rendered and "<b>" not in rendered and "<i>" not in rendered
    item = rendered[rendered.index("<strong>Index never used</strong> — public.&quot;&lt;") :]
    item = item[: item.index("</li>")]
    assert "<em>" not in item and "<table>" not in item
    # The name reaches the reader intact, with its newline shown as \n.
    expected = (
        "public.&quot;&lt;script&gt;alert(1)&lt;/script&gt; | *x* _y_ `z` "
        "&quot;&quot;q&quot;&quot; ü€😀\\nnext&quot;"
    )
    assert f"<strong>Index never used</strong> — {expected}" in rendered
    # The SQL with backticks keeps its own fence and its text verbatim.
    assert (
        '<code class="language-sql">DROP INDEX CONCURRENTLY &quot;```&lt;script&gt;&quot;;'
        "\n-- ``` end\n</code>" in rendered
    )
    # The suppressed table keeps three cells per row despite pipes in reasons.
    table = rendered[rendered.index("<th>Finding</th>") :]
    rows = re.findall(r"<tr>.*?</tr>", table[: table.index("</table>")], flags=re.S)
    assert [row.count("<td>") for row in rows] == [3, 3]


def test_empty_report_says_so_positively() -> None:
    text = render(empty_report())
    assert "No findings: every check that ran passed. Nothing blocks production." in text
    assert "## Phase" not in text and "- [ ]" not in text
    assert "**10.0 / 10** overall." in text


def test_escaping_helpers() -> None:
    assert md_text("order_items _tmp_ a*b") == "order_items \\_tmp\\_ a\\*b"
    assert md_text("1. first") == "1\\. first"
    assert md_text("- item") == "\\- item"
    assert md_text("---") == "\\---"
    assert md_text("-1 and 98.7%") == "-1 and 98.7%"
    assert md_text("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert md_text("$x$ &amp; ~y~") == "\\$x\\$ \\&amp; \\~y\\~"
    assert md_name("a\nb") == "a\\\\nb"
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x`") == "`` `x` ``"
    assert md_inline_code("run `a|b` then <i>") == "run `a|b` then \\<i\\>"
    assert md_inline_code("odd ` tick") == "odd \\` tick"


def test_hostile_object_round_trips_through_commonmark() -> None:
    rendered = html_of(f"- [ ] **t** — {md_name(HOSTILE_OBJECT)}\n")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | *x* _y_ `z`" in rendered


def test_sql_keeps_layout_but_shows_invisible_characters() -> None:
    report = make_report(
        [
            finding(
                "unused_index",
                Severity.MEDIUM,
                Category.PERFORMANCE,
                'public."evil\u202eidx"',
                "Index never used",
                "d",
                fix=Fix('DROP INDEX CONCURRENTLY\n\tpublic."evil\u202eidx";'),
            )
        ]
    )
    text = render(report)
    assert '  ```sql\n  DROP INDEX CONCURRENTLY\n  \tpublic."evil\\u202eidx";\n  ```' in text
    assert "\u202e" not in text


def test_many_findings_of_one_check_are_grouped_by_schema() -> None:
    many = [
        finding("unused_index", Severity.LOW, Category.PERFORMANCE,
                f"{'billing' if n % 4 == 0 else 'public'}.ix{n:03}", "Unused index",
                f"detail {n}", {"size_bytes": 8192})
        for n in range(40)
    ]  # fmt: skip
    text = render(make_report(many))
    assert "detail 4" in text and "detail 5" not in text  # the first five in full
    assert "### 35 more `unused_index` findings" in text
    # one checkbox per schema, not one per object
    assert text.count("- [ ] schema public (") == 1 and text.count("- [ ] schema billing (") == 1
    # the first five (billing.ix000 ... ix016) are shown in full above
    assert "- [ ] schema public (30): ix001, ix002, ix003" in text
    assert "- [ ] schema billing (5): ix020, ix024" in text


def test_deferred_findings_are_one_line_and_left_out_of_the_counts() -> None:
    from dataclasses import replace

    from prodready.report.plan import deferred, phases

    young = [
        replace(
            finding("unused_index", Severity.INFO, Category.PERFORMANCE, f"public.ix{n:03}",
                    "Unused index", "d"),
            deferred="not scanned in the 4 minutes statistics cover; re-run later",
        )
        for n in range(442)
    ]  # fmt: skip
    real = finding("rls_disabled", Severity.CRITICAL, Category.SECURITY, "public.t", "RLS", "d")
    report = replace(
        make_report([real, *young]), phases=phases([real, *young]), deferred=deferred(young)
    )
    text = render(report)
    assert "## Not actionable yet" in text
    assert "- 442 findings of **Unused index** (`unused_index`): not scanned in the" in text
    assert "ix000" not in text and text.count("- [ ]") == 1
    assert report.counts()["info"] == 0 and report.counts()["critical"] == 1
    assert report.to_json()["deferred"][0]["count"] == 442
    assert len(report.to_json()["findings"]) == 443


def test_index_advice_sits_in_the_phase_its_benefit_earns() -> None:
    from dataclasses import replace

    from prodready.report.plan import phases

    def rec(name: str, before: float, after: float) -> dict[str, object]:
        return {"table": f"public.{name}", "confidence": "validated",
                "estimated_bytes": 3 * 1048576,
                "definition": f'CREATE INDEX CONCURRENTLY "{name}_idx" ON "public"."{name}" '
                              '("buyer_id", "created_at" DESC)',
                "benefit": {"workload_cost_before": before, "workload_cost_after": after},
                "queries": []}  # fmt: skip

    advisor = {
        "indexes": [rec("orders", 90000, 10000), rec("tags", 90000, 89000)],
        "drops": [{"index": "public.old_idx", "reason": "unused",
                   "definition": 'DROP INDEX CONCURRENTLY "public"."old_idx"'}],
        "workload": {"statements": 12}, "workload_cost": {"before": 90000, "after": 9000},
    }  # fmt: skip
    text = render(replace(make_report([]), advisor=advisor, phases=phases([], advisor)))
    phase2 = text[text.index("## Phase 2") : text.index("## Phase 3")]
    phase4 = text[text.index("## Phase 4") :]
    assert "### Index advice" in phase2 and "public.orders" in phase2
    assert "workload cost 90,000 → 10,000" in phase2
    assert "public.tags" in phase4 and "public.tags" not in phase2
    assert '("buyer_id", "created_at" DESC)' in text
    assert "drop public.old_idx (unused)" in text
    assert "### Index advice" not in render(make_report([]))
