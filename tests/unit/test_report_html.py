"""report.html: self-contained, escaped, with charts, collapsible findings and a locked-down CSP."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from html.parser import HTMLParser

from prodready.model import Category, Fix, Severity
from prodready.report.html import DONUT_RADIUS, code_segments, render
from tests.unit.test_report_fixtures import empty_report, finding, make_report, sample_report


class Page(HTMLParser):
    """Elements (tag, attrs) and script bodies of a page, from the stdlib parser."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def tags(self, name: str, **attrs: str) -> list[dict[str, str | None]]:
        """Elements named `name` whose attributes equal (or, for class, contain) `attrs`."""
        found = []
        for tag, attributes in self.elements:
            values = {k: (attributes.get(k) or "") for k in attrs}
            if tag == name and all(
                v == values[k] or v in values[k].split() for k, v in attrs.items()
            ):
                found.append(attributes)
        return found

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())


def test_self_contained_no_network() -> None:
    html = render(sample_report())
    page = Page(html)
    assert not [a for _, a in page.elements if a.get("src")]
    assert all((a.get("href") or "#").startswith("#") for a in page.tags("a"))
    assert not page.tags("link")
    assert "url(" not in html and "@import" not in html and "http://" not in html
    assert "https://" not in html


def test_only_our_script_runs_under_the_csp() -> None:
    page = Page(render(sample_report()))
    (meta,) = page.tags("meta", **{"http-equiv": "Content-Security-Policy"})
    csp = meta["content"] or ""
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert len(page.scripts) == 1
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp


def test_hostile_object_names_are_escaped() -> None:
    html = render(sample_report())
    assert "<script>alert" not in html and "<b>tags" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(3)" in html  # SQL stays inside <pre>
    page = Page(html)
    assert len(page.scripts) == 1
    assert '<script>alert(1)</script> | *x* _y_ `z` ""q"" ü€😀\\nnext"' in page.plain
    assert "Name has | pipes, `ticks`, <b>tags</b> & 'quotes' and a second line." in page.plain


def test_score_charts() -> None:
    html = render(sample_report())
    circumference = 2 * math.pi * DONUT_RADIUS
    assert f'stroke-dasharray="{round(circumference * 0.4, 2)} {round(circumference, 2)}"' in html
    assert '<text class="score" x="80" y="84" text-anchor="middle">4.0</text>' in html
    assert "Capped at 4.0 while critical findings remain." in html
    bars = re.findall(r'<rect class="fill (\w+)" x="110" y="\d+" width="([\d.]+)"', html)
    # Four category bars (security is 0.0, so it has no fill) then one per severity.
    assert bars[:3] == [("bad", "86.4"), ("bad", "68.4"), ("good", "158.4")]
    severities = re.findall(r'<rect class="fill sev-(\w+)" x="110" y="\d+" width="([\d.]+)"', html)
    assert severities == [
        ("critical", "72.0"),
        ("high", "144.0"),
        ("medium", "180.0"),
        ("low", "108.0"),
        ("info", "72.0"),
    ]


def test_blockers_link_to_their_findings() -> None:
    page = Page(render(sample_report()))
    assert "What blocks production first 2 critical findings must be fixed" in page.plain
    links = [a["href"] for a in page.tags("a")]
    assert links == ["#f1", "#f2"]
    opened = [a["id"] for a in page.tags("details") if "open" in a]
    assert opened == ["f1", "f2"]  # Phase 1 starts expanded, the rest collapsed


def test_phases_with_collapsible_findings() -> None:
    report = sample_report()
    html = render(report)
    page = Page(html)
    assert len(page.tags("details", **{"class": "finding"})) == len(report.findings)
    for phase in report.phases:
        assert f"{phase.title} {len(phase.items)} {phase.summary}" in page.plain
    assert '<th scope="row">table_bytes</th><td>1,932,735,283 (1.8 GB)</td>' in html
    assert "<pre><code>CREATE INDEX CONCURRENTLY order_items_order_id_idx\n" in html
    assert '<pre class="rollback"><code>DROP INDEX CONCURRENTLY ' in html
    assert "outside a transaction, one statement at a time" in html
    assert "review before applying" in html
    assert (
        "<code>prodready audit</code> no longer reports "
        "<code>unindexed_foreign_key:public.order_items (order_id)</code>"
    ) in html


def test_suppressed_limitations_failures() -> None:
    page = Page(render(sample_report()))
    assert "Suppressed findings 2" in page.plain
    assert "append-only archive partition | never updated" in page.plain
    assert "used by the month-end report <script>x</script>" in page.plain
    assert "statements: pg_stat_statements is not installed in database shop" in page.plain
    assert "replication_lag: KeyError: 'replay_lsn'" in page.plain


def test_light_dark_and_print() -> None:
    html = render(sample_report())
    assert "@media (prefers-color-scheme: dark)" in html
    assert "@media print" in html and "beforeprint" in html


def test_empty_report_says_so_positively() -> None:
    page = Page(render(empty_report()))
    assert "No findings Every check that ran passed. Nothing blocks production." in page.plain
    assert not page.tags("details") and "Phase 1: blockers" not in page.plain
    assert "10.0" in page.plain


def test_no_blockers_points_to_phase_two() -> None:
    report = make_report([f for f in sample_report().findings if f.phase > 1])
    page = Page(render(report))
    assert "Nothing: there are no critical findings. Start with Phase 2." in page.plain


def test_code_segments() -> None:
    assert code_segments("run `a` then `b`") == [
        (False, "run "),
        (True, "a"),
        (False, " then "),
        (True, "b"),
    ]
    assert code_segments("odd ` one") == [(False, "odd ` one")]


def test_sql_shows_invisible_characters() -> None:
    fix = Fix('DROP INDEX CONCURRENTLY public."evil\u202eidx";', 'SELECT "\x1b";')
    bad = finding("unused_index", Severity.LOW, Category.PERFORMANCE, "public.x", "T", "d", fix=fix)
    html = render(make_report([bad]))
    assert "\u202e" not in html and "\x1b" not in html
    assert (
        "<pre><code>DROP INDEX CONCURRENTLY public.&#34;evil\\u202eidx&#34;;</code></pre>" in html
    )


def test_many_findings_of_one_check_list_the_rest_compactly() -> None:
    many = [
        finding("unused_index", Severity.LOW, Category.PERFORMANCE, f"public.ix{n:03}",
                "Unused index", f"detail {n}", {"size_bytes": 8192})
        for n in range(40)
    ]  # fmt: skip
    page = render(make_report(many))
    assert "detail 24" in page and "detail 25" not in page
    assert "15 more <code>unused_index</code> findings" in page
    assert page.count('<li class="obj">') == 15 and "public.ix039" in page


def test_deferred_findings_and_phase_advice_in_html() -> None:
    from dataclasses import replace

    from prodready.report.plan import deferred, phases
    from tests.unit.test_report_fixtures import finding, make_report

    young = [
        replace(
            finding("unused_index", Severity.INFO, Category.PERFORMANCE, f"public.ix{n:03}",
                    "Unused index", "d"),
            deferred="not scanned in the 4 minutes statistics cover",
        )
        for n in range(30)
    ]  # fmt: skip
    advisor = {
        "indexes": [{"table": "public.orders", "confidence": "validated", "estimated_bytes": 1,
                     "definition": "CREATE INDEX CONCURRENTLY x ON public.orders (a)",
                     "benefit": {"workload_cost_before": 100, "workload_cost_after": 10},
                     "queries": []}],
        "drops": [], "workload": {"statements": 1}, "workload_cost": {"before": 100, "after": 10},
    }  # fmt: skip
    report = replace(
        make_report(young), phases=phases(young, advisor), deferred=deferred(young),
        advisor=advisor,
    )  # fmt: skip
    html = render(report)
    assert 'id="deferred"' in html and "30 findings of Unused index" in html
    assert html.count('<li class="obj">public.ix0') == 30  # behind the fold, every one
    phase2 = html[html.index('id="phase-2"') : html.index('id="phase-3"')]
    assert "Index for public.orders" in phase2 and "workload cost 100 → 10" in phase2
