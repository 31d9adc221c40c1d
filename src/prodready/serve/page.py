"""Render the dashboard: one HTML page, a fragment the page's script swaps in, inline SVG."""

from __future__ import annotations

import html
from typing import Any

import jinja2
from markupsafe import Markup

from prodready.units import human_bytes

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("prodready.serve", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def sparkline(points: list[tuple[float, float]], width: int = 240, height: int = 44) -> Markup:
    """A polyline of the recent values; the last value is labelled, nothing else is."""
    if len(points) < 2:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    lo, hi = min(ys), max(ys)
    span_x = (x1 - x0) or 1.0
    span_y = (hi - lo) or 1.0
    coords = " ".join(
        f"{(x - x0) / span_x * (width - 2) + 1:.1f},"
        f"{height - 2 - (y - lo) / span_y * (height - 4):.1f}"
        for x, y in points
    )
    title = html.escape(f"min {lo:g}, max {hi:g}, last {ys[-1]:g}")
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" role="img">'
        f"<title>{title}</title>"
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{coords}"/>'
        "</svg>"
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


_ENV.filters["bytes"] = lambda v: "-" if v is None else human_bytes(v)
_ENV.filters["duration"] = _duration
_ENV.globals["sparkline"] = sparkline


def render_fragment(data: dict[str, Any]) -> str:
    return _ENV.get_template("fragment.html.j2").render(d=data)


def render_page(data: dict[str, Any], refresh_ms: int) -> str:
    return _ENV.get_template("dashboard.html.j2").render(
        d=data, refresh_ms=refresh_ms, fragment=Markup(render_fragment(data))
    )
