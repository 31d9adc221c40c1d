"""Built-in load shapes (smoke, average, spike, soak, stress), short and bounded by default.

A shape is a list of (fraction of the duration, start fraction of the peak rate, end fraction);
`--rate` sets the peak rate and `--duration` the total, so every shape scales the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prodready.load.scenario import Stage

# name: (default peak req/s, default seconds, shape, what it is for)
PROFILES: dict[str, tuple[float, float, tuple[tuple[float, float, float], ...], str]] = {
    "smoke": (10, 10, ((1.0, 1.0, 1.0),), "a few requests: does it work at all"),
    "average": (
        50,
        30,
        ((0.15, 0.0, 1.0), (0.7, 1.0, 1.0), (0.15, 1.0, 0.0)),
        "ramp to the usual rate, hold, ramp down",
    ),
    "spike": (
        250,
        30,
        ((0.35, 0.2, 0.2), (0.05, 0.2, 1.0), (0.2, 1.0, 1.0), (0.05, 1.0, 0.2), (0.35, 0.2, 0.2)),
        "the usual rate, a sudden 5x burst, back again",
    ),
    "soak": (50, 300, ((1.0, 1.0, 1.0),), "a steady rate for long enough to find leaks"),
    "stress": (
        200,
        60,
        ((0.25, 0.25, 0.25), (0.25, 0.5, 0.5), (0.25, 0.75, 0.75), (0.25, 1.0, 1.0)),
        "steps up to the peak: where does it break",
    ),
}


def profile_stages(
    name: str, *, rate: float | None = None, duration: float | None = None
) -> tuple[Stage, ...]:
    """The stages of a built-in profile at `rate` peak req/s over `duration` seconds."""
    from prodready.load.scenario import Stage

    default_rate, default_duration, shape, _ = PROFILES[name]
    peak = default_rate if rate is None else rate
    total = default_duration if duration is None else duration
    return tuple(
        Stage(
            duration=total * part,
            rate=peak * end,
            start_rate=None if start == end else peak * start,
        )
        for part, start, end in shape
    )


def rescale(
    stages: tuple[Stage, ...], *, rate: float | None, duration: float | None
) -> tuple[Stage, ...]:
    """Stretch stages so the peak rate is `rate` and the total is `duration` (either optional)."""
    from prodready.load.scenario import Stage

    peak = max((max(s.rate, s.begin_rate) for s in stages), default=0.0)
    total = sum(s.duration for s in stages)
    r = rate / peak if rate is not None and peak > 0 else 1.0
    d = duration / total if duration is not None and total > 0 else 1.0
    return tuple(
        Stage(
            duration=s.duration * d,
            rate=s.rate * r,
            start_rate=None if s.start_rate is None else s.start_rate * r,
        )
        for s in stages
    )
