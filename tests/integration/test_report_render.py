"""Audit a real database and render every format: valid, escaped, and consistent with each other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodready import registry
from prodready.config import Config
from prodready.db.snapshot import Snapshot
from prodready.model import Category, CheckInfo, Fix, Issue, Severity
from prodready.pipeline import audit
from prodready.report import FILE_FORMATS, FORMATS, render, write_reports
from tests.conftest import TestDatabase
from tests.unit.test_report_html import Page
from tests.unit.test_report_sarif import FINGERPRINT, assert_valid_sarif

HOSTILE = "<script>alert(1)</script> | `x` *y*"


def every_table(snap: Snapshot, opts: registry.Options) -> Iterator[Issue]:
    """A stand-in check so the test does not depend on which real checks exist yet."""
    for table in snap.tables:
        if table.schema == "public":
            yield Issue(
                table.qualified,
                f"{table.qualified} has {table.n_live_tup} live rows.",
                {"n_live_tup": table.n_live_tup, "stats_since": snap.stats_since},
                Fix(f"-- review {table.qualified}"),
                Severity.HIGH,
            )


@pytest.fixture
def stand_in_check(monkeypatch: pytest.MonkeyPatch) -> None:
    info = CheckInfo(
        "report_every_table",
        "Every table",
        Category.RELIABILITY,
        Severity.LOW,
        every_table.__doc__ or "",
    )
    monkeypatch.setitem(registry._CATALOG, info.id, registry.Check(info, every_table))


def test_audit_renders_every_format(db: TestDatabase, tmp_path: Path, stand_in_check: None) -> None:
    db.execute(
        f"""
        CREATE TABLE customers (id bigint PRIMARY KEY, name text);
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers);
        CREATE TABLE "{HOSTILE.replace('"', '""')}" (id int, note text);
        CREATE INDEX orders_id_dup ON orders (id);
        INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 200) g;
        INSERT INTO orders SELECT g, 1 + g % 200 FROM generate_series(1, 2000) g;
        ANALYZE;
        """
    )
    snapshot, report = audit(dsn=db.dsn)
    assert report.target["database"]["name"] == db.name
    mine = sorted(f.object for f in report.findings if f.check == "report_every_table")
    assert mine == [
        'public."<script>alert(1)</script> | `x` *y*"',
        "public.customers",
        "public.orders",
    ]
    texts = {fmt: render(report, fmt) for fmt in FORMATS}

    data = json.loads(texts["json"])
    assert data["target"]["database"]["name"] == db.name
    assert [f["key"] for f in data["findings"]] == [f.key for f in report.findings]
    assert data["score"]["overall"] == report.score.overall

    log = json.loads(texts["sarif"])
    assert_valid_sarif(log)
    fingerprints = [r["partialFingerprints"][FINGERPRINT] for r in log["runs"][0]["results"]]
    assert sorted(fingerprints) == sorted(f.key for f in report.findings)

    page = Page(texts["html"])
    assert len(page.scripts) == 1 and "<script>alert" not in texts["html"]
    assert db.name in page.plain and f"{report.score.overall:.1f}" in page.plain
    assert len(page.tags("details", **{"class": "finding"})) == len(report.findings)

    assert texts["md"].startswith(f"# Production readiness plan: {db.name}")
    advice = report.advisor or {}
    advice_items = len(advice.get("indexes", [])) + len(advice.get("drops", []))
    assert texts["md"].count("\n- [ ] ") == len(report.findings) + advice_items
    assert f"prodready · {db.name}" in texts["terminal"]
    assert "public.&#34;&lt;script&gt;alert(1)&lt;/script&gt; | `x` *y*&#34;" in texts["html"]
    assert 'public."\\<script\\>alert(1)\\</script\\> \\| \\`x\\` \\*y\\*"' in texts["md"]

    # Suppress whatever fired on the hostile table: it moves to the suppressed lists.
    hostile_keys = [f.key for f in report.findings if "<script>" in f.object]
    assert "report_every_table:" + mine[0] in hostile_keys
    config = Config(suppressions={"*<script>*": "test fixture | not an app table"})
    _, quiet = audit(snapshot=snapshot, config=config)
    assert sorted(s.finding.key for s in quiet.suppressed) == sorted(hostile_keys)
    suppressed = [
        r for r in json.loads(render(quiet, "sarif"))["runs"][0]["results"] if "suppressions" in r
    ]
    assert len(suppressed) == len(hostile_keys)
    assert "<script>alert" not in render(quiet, "html")

    written = write_reports(quiet, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(FORMATS[f][1] for f in FILE_FORMATS)
    assert all(p.stat().st_size > 0 for p in written)
