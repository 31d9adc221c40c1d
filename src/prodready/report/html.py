"""report.html: one self-contained page (inline CSS, inline SVG charts, no network).

Jinja2 autoescaping is always on: object names are user-controlled. A Content-Security-Policy
allows only the page's own inline script (by hash), so even a missed escape could not run code.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from prodready import __version__
from prodready.model import Finding
from prodready.report._text import (
    band,
    format_value,
    one_line,
    stats_age,
    target_name,
    timestamp,
    visible,
    visible_sql,
)
from prodready.report.plan import CRITICAL_CAP, PlanItem, Report

DONUT_RADIUS = 62
# A page is read by people: past this many findings of one check, the rest become a list.
DETAIL_PER_CHECK = 25
# Expand/collapse buttons, and every finding opened before printing.
SCRIPT = (
    "document.addEventListener('click',function(e){"
    "var b=e.target.closest('[data-expand]');if(!b)return;"
    "var open=b.getAttribute('data-expand')==='1';"
    "document.querySelectorAll('details.finding').forEach(function(d){d.open=open;});});"
    "window.addEventListener('beforeprint',function(){"
    "document.querySelectorAll('details').forEach(function(d){d.open=true;});});"
)


@dataclass(frozen=True)
class Item:
    """A plan item with everything the template shows, already formatted."""

    anchor: str
    finding: Finding
    evidence: list[tuple[str, str]]
    acceptance: list[tuple[bool, str]]


def render(report: Report) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(report))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("prodready.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["name"] = visible
    env.filters["prose"] = one_line
    env.filters["sql"] = visible_sql
    return env


def _context(report: Report) -> dict[str, Any]:
    db = report.target.get("database") or {}
    numbers = itertools.count(1)  # anchors #f1, #f2... in reading order, linked from blockers
    phases = []
    for phase in report.phases:
        shown, rest = phase.detailed(DETAIL_PER_CHECK)
        items = [_item(i, f"f{next(numbers)}") for i in shown]
        phases.append((phase, items, rest))
    return {
        "report": report,
        "version": __version__,
        "generated": timestamp(report.generated_at),
        "database": db,
        "name": target_name(report.target),
        "facts": _facts(report, db),
        "overall": report.score.overall,
        "overall_band": band(report.score.overall),
        "cap": CRITICAL_CAP,
        "donut": _donut(report.score.overall),
        "categories": [(name, v, band(v), v * 10) for name, v in report.score.categories.items()],
        "counts": _counts(report),
        "blockers": phases[0][1],
        "blockers_more": sum(len(items) for items in phases[0][2].values()),
        "phases": phases,
        "deferred_total": sum(len(group.findings) for group in report.deferred),
        **_rls_context(report),
        "script": Markup(SCRIPT),
        "csp": _csp(),
    }


def _rls_context(report: Report) -> dict[str, Any]:
    """The rls-test matrix as (table, role) rows with the commands that were tried."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for cell in (report.rls or {}).get("matrix") or []:
        rows.setdefault((cell["table"], cell["role"]), {})[cell["command"]] = cell["outcome"]
    order = ["SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"]
    used = [c for c in order if any(c in r for r in rows.values())]
    return {"rls_rows": sorted(rows.items()), "rls_commands": used}


def _facts(report: Report, db: dict[str, Any]) -> list[str]:
    facts = [
        f"PostgreSQL {db['server_version']}" if db.get("server_version") else "",
        stats_age(report.target) or "",
        f"audited {timestamp(report.generated_at)}",
        f"as role {visible(str(db['role']))}" if db.get("role") else "",
    ]
    return [f for f in facts if f]


def _item(item: PlanItem, anchor: str) -> Item:
    f = item.finding
    evidence = [(visible(str(k)), format_value(str(k), v)) for k, v in f.evidence.items()]
    return Item(anchor, f, evidence, code_segments(item.acceptance))


def _counts(report: Report) -> list[tuple[str, int, float]]:
    """(severity, count, bar length in % of the largest count)."""
    counts = report.counts()
    top = max(counts.values(), default=0) or 1
    return [(label, n, 100 * n / top) for label, n in counts.items()]


def _donut(overall: float) -> dict[str, float]:
    circumference = 2 * math.pi * DONUT_RADIUS
    filled = circumference * max(0.0, min(10.0, overall)) / 10
    return {"r": DONUT_RADIUS, "filled": round(filled, 2), "rest": round(circumference, 2)}


def code_segments(text: str) -> list[tuple[bool, str]]:
    """Split on backticks: (True, code) for `spans`, (False, text) for the rest."""
    parts = one_line(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick is literal text
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
