"""Pass/fail thresholds like `p95<500ms`, `error_rate<1%`, `GET /x: p99<1s` (pure functions)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prodready.errors import UsageError
from prodready.load.result import LoadRun

LATENCY = re.compile(r"^(p\d{1,2}(?:\.\d+)?|max|mean)$")
RATES = ("error_rate", "dropped_rate")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPR = re.compile(
    r"^\s*(?:(?P<endpoint>.+?)\s*:\s*)?(?P<metric>[a-z_]+[0-9.]*)\s*(?P<op><=|>=|<|>)"
    r"\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
HELP = "expected e.g. p95<500ms, p99<=1s, max<2s, error_rate<1%, dropped_rate<1%, rps>=100"


@dataclass(frozen=True)
class Threshold:
    """A parsed threshold; `limit` is in ms for latencies, a fraction for rates, req/s for rps."""

    expr: str
    metric: str
    op: str
    limit: float
    endpoint: str | None = None

    @property
    def percentile(self) -> float | None:
        return float(self.metric[1:]) if self.metric.startswith("p") else None


@dataclass(frozen=True)
class ThresholdResult:
    """`value` in the threshold's unit (ms, percent, req/s); None when nothing was measured."""

    expr: str
    ok: bool
    value: float | None

    def to_json(self) -> dict[str, Any]:
        return {"expr": self.expr, "ok": self.ok, "value": self.value}


def parse_threshold(expr: str) -> Threshold:
    """Parse one expression; anything unclear is a usage error that says what was expected."""
    match = _EXPR.match(expr)
    if not match:
        raise UsageError(f"cannot parse threshold {expr!r} ({HELP})")
    metric, unit = match["metric"], match["unit"]
    value = float(match["value"])
    if LATENCY.match(metric):
        pct = float(metric[1:]) if metric.startswith("p") else None
        if pct is not None and not 0 < pct < 100:
            raise UsageError(f"threshold {expr!r}: percentile must be between 0 and 100")
        if unit == "%":
            raise UsageError(f"threshold {expr!r}: {metric} is a latency (use ms or s)")
        limit = value * 1000 if unit == "s" else value
    elif metric in RATES:
        if unit in ("ms", "s"):
            raise UsageError(f"threshold {expr!r}: {metric} is a rate (use % or a fraction)")
        limit = value / 100 if unit == "%" else value
        if limit > 1:
            raise UsageError(f"threshold {expr!r}: a rate above 100% never fails")
    elif metric == "rps":
        if unit is not None:
            raise UsageError(f"threshold {expr!r}: rps takes a plain number of requests/s")
        limit = value
    else:
        raise UsageError(f"threshold {expr!r}: unknown metric {metric!r} ({HELP})")
    return Threshold(expr.strip(), metric, match["op"], limit, match["endpoint"])


def parse_thresholds(exprs: Iterable[str], endpoints: Iterable[str]) -> list[Threshold]:
    """Parse all; a threshold naming an endpoint the scenario lacks is a usage error."""
    names = set(endpoints)
    parsed = [parse_threshold(e) for e in exprs]
    for t in parsed:
        if t.endpoint is not None and t.endpoint not in names:
            known = ", ".join(sorted(names))
            raise UsageError(f"threshold {t.expr!r} names endpoint {t.endpoint!r} (known: {known})")
        if t.endpoint is not None and t.metric in ("rps", "dropped_rate"):
            raise UsageError(f"threshold {t.expr!r}: {t.metric} applies to the whole run")
    return parsed


def evaluate(thresholds: Iterable[Threshold], run: LoadRun) -> list[ThresholdResult]:
    """Each threshold against the run; an unmeasured value fails (no answers is no pass)."""
    return [_evaluate(t, run) for t in thresholds]


def _evaluate(t: Threshold, run: LoadRun) -> ThresholdResult:
    value = measured(t, run)
    if value is None:
        return ThresholdResult(t.expr, False, None)
    ok = _OPS[t.op](value, t.limit)
    shown = round(value * 100, 3) if t.metric in RATES else round(value, 3)
    return ThresholdResult(t.expr, ok, shown)


def measured(t: Threshold, run: LoadRun) -> float | None:
    """The run's value for a threshold's metric, in its unit (ms, fraction, req/s)."""
    if t.metric == "rps":
        return run.achieved_rps
    if t.metric == "dropped_rate":
        return run.dropped_rate
    scope = run if t.endpoint is None else next(e for e in run.endpoints if e.name == t.endpoint)
    if t.metric == "error_rate":
        return scope.error_rate if scope.requests else None
    named = scope.latency.percentile(t.metric if t.metric in ("max", "mean") else "")
    if named is not None:
        return named
    key = _percentile_key(t.metric)
    if key in ("p50", "p90", "p95", "p99"):
        return scope.latency.percentile(key)
    return scope.extra_percentiles.get(key)


def _percentile_key(metric: str) -> str:
    """`p95.0` and `p95` name the same percentile."""
    if not metric.startswith("p"):
        return metric
    value = float(metric[1:])
    return f"p{value:g}"


def extra_percentiles(thresholds: Iterable[Threshold]) -> list[float]:
    """Percentiles thresholds ask for beyond the four every report carries."""
    standard = {50.0, 90.0, 95.0, 99.0}
    return sorted({p for t in thresholds if (p := t.percentile) is not None} - standard)
