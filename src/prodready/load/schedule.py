"""When each request is due: the open model's timetable, fixed before the first request."""

from __future__ import annotations

import math
from collections.abc import Iterator

from prodready.load.scenario import Stage


def intended_offsets(stages: tuple[Stage, ...]) -> Iterator[float]:
    """Seconds from the start at which each request is due, in order.

    Within a stage the rate goes linearly from `begin_rate` to `rate`, so the k-th request
    is due when the integral of the rate reaches k: a quadratic with an exact solution.
    """
    origin = 0.0
    carry = 0.0  # fraction of a request owed from the previous stage, so stages join evenly
    for stage in stages:
        a, b, d = stage.begin_rate, stage.rate, stage.duration
        slope = (b - a) / d
        k = 1.0 - carry
        while k <= stage.requests + 1e-9:
            yield origin + _time_of(k, a, slope)
            k += 1.0
        total = stage.requests + carry
        carry = max(total - math.floor(total + 1e-9), 0.0)
        origin += d


def _time_of(k: float, a: float, slope: float) -> float:
    """The t at which a*t + slope*t²/2 == k."""
    if abs(slope) < 1e-12:
        return k / a
    return (-a + math.sqrt(max(a * a + 2 * slope * k, 0.0))) / slope
