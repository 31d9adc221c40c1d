"""A load report as one self-contained HTML page: summary, thresholds, and two inline SVG
charts over time (latency p95/max, throughput/errors). No scripts, no external files."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from prodready.load.render import COLUMNS, headline, latency_cells, verdict
from prodready.load.report import LoadReport
from prodready.load.result import TimelinePoint

WIDTH, HEIGHT, PAD = 640, 200, 40


def render_html(report: LoadReport) -> str:
    run = report.run
    rows = [("all", run.latency, run.requests, run.errors)]
    rows += [(e.name, e.latency, e.requests, e.errors) for e in run.endpoints]
    table = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{c}</td>" for c in latency_cells(latency))
        + f"<td>{requests}</td><td>{errors}</td></tr>"
        for name, latency, requests, errors in rows
    )
    thresholds = "".join(
        f"<li class={'ok' if t.ok else 'fail'}>{'ok' if t.ok else 'FAIL'} "
        f"<code>{escape(t.expr)}</code> ({'-' if t.value is None else f'{t.value:g}'})</li>"
        for t in report.thresholds
    )
    latency = _chart(
        run.timeline,
        {"p95 ms": lambda p: p.p95_ms, "max ms": lambda p: p.max_ms},
        "latency per second (ms)",
    )
    throughput = _chart(
        run.timeline,
        {"requests/s": lambda p: float(p.requests), "errors/s": lambda p: float(p.errors)},
        "throughput per second",
    )
    header = "".join(f"<th>{c}</th>" for c in ("latency ms", *COLUMNS, "requests", "errors"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load test: {escape(run.target)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.ok {{ color: #17803d; }} .fail {{ color: #b42318; font-weight: bold; }}
svg {{ background: #fafafa; border: 1px solid #ddd; margin: 8px 0; }}
</style></head><body>
<h1>Load test: {escape(run.target)}</h1>
<p>Scenario <b>{escape(run.scenario)}</b>, engine {escape(run.engine)}, {run.duration_s:g} s.
<b>{escape(verdict(report))}</b></p>
<p>{escape(headline(report))}{"; <b>client limited</b>" if run.client_limited else ""}</p>
<table><tr>{header}</tr>{table}</table>
<ul>{thresholds}</ul>
{latency}
{throughput}
</body></html>
"""


Series = dict[str, Callable[[TimelinePoint], float | None]]


def _chart(points: tuple[TimelinePoint, ...], series: Series, title: str) -> str:
    """One SVG line chart: x is seconds into the run, each series its own colour."""
    colours = ("#1f6feb", "#b42318")
    values = [v for fn in series.values() for p in points if (v := fn(p)) is not None]
    if not points or not values:
        return f"<p>{escape(title)}: no data</p>"
    top = max(values) or 1.0
    last = max(p.t for p in points) or 1.0

    def xy(t: float, v: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * t / last
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top
        return f"{x:.1f},{y:.1f}"

    lines = []
    for (label, fn), colour in zip(series.items(), colours, strict=False):
        coords = " ".join(xy(p.t, v) for p in points if (v := fn(p)) is not None)
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        lines.append(
            f'<text x="{WIDTH - PAD}" y="{14 + 14 * len(lines) // 2}" fill="{colour}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    axis = (
        f'<text x="{PAD}" y="16">{escape(title)}</text>'
        f'<text x="4" y="{PAD + 4}">{top:,.0f}</text>'
        f'<text x="4" y="{HEIGHT - PAD}">0</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 12}" text-anchor="end">{last:g} s</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#999"/>'
    )
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">{axis}{"".join(lines)}</svg>'
    )
