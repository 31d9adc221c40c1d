"""What a load run measured, as plain JSON-serialisable data (the engine's output)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 95.0, 99.0)
# microseconds from 1 µs to 10 minutes, 3 significant digits: the usual HDR setting
HIST_LOW_US, HIST_HIGH_US, HIST_DIGITS = 1, 600_000_000, 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOW_US, HIST_HIGH_US, HIST_DIGITS)


@dataclass(frozen=True)
class Latency:
    """Milliseconds; None when no response was measured."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, hist: HdrHistogram) -> Latency:
        if hist.get_total_count() == 0:
            return cls()
        p = hist.get_percentile_to_value_dict(list(PERCENTILES))
        return cls(
            p50=_ms(p[50.0]),
            p90=_ms(p[90.0]),
            p95=_ms(p[95.0]),
            p99=_ms(p[99.0]),
            max=_ms(hist.get_max_value()),
            mean=_ms(hist.get_mean_value()),
        )

    def percentile(self, name: str) -> float | None:
        return getattr(self, name, None)

    def to_json(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p90": self.p90, "p95": self.p95, "p99": self.p99, "max": self.max}


def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint's share: requests answered (or failed in transport), errors by status."""

    name: str
    method: str
    path: str
    requests: int
    errors: int
    errors_by_status: dict[str, int]
    latency: Latency
    extra_percentiles: dict[str, float] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "requests": self.requests,
            "errors": self.errors,
            "errors_by_status": dict(sorted(self.errors_by_status.items())),
            "latency_ms": self.latency.to_json(),
        }


@dataclass(frozen=True)
class TimelinePoint:
    """One second of the run: requests completed, errors, and that second's latency."""

    t: float
    requests: int
    errors: int
    p95_ms: float | None
    max_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "requests": self.requests,
            "errors": self.errors,
            "p95_ms": self.p95_ms,
            "max_ms": self.max_ms,
        }


@dataclass(frozen=True)
class LoadRun:
    """One run's measurements. `requests` counts requests sent (answered or failed in
    transport); `dropped` those the client could not send within the timeout of their due time.
    """

    target: str
    engine: str
    scenario: str
    duration_s: float
    elapsed_s: float
    scheduled: int
    requests: int
    dropped: int
    errors: int
    errors_by_status: dict[str, int]
    latency: Latency
    endpoints: tuple[EndpointResult, ...]
    client_limited: bool
    sending_s: float = 0.0  # from the first due time to the last send: > duration when late
    send_lag_p99_ms: float | None = None
    max_connections: int = 0
    interrupted: bool = False
    timeline: tuple[TimelinePoint, ...] = ()
    # percentiles thresholds ask for beyond p50..p99 (p99.9 ...), in ms
    extra_percentiles: dict[str, float] = field(default_factory=dict)

    @property
    def offered_rps(self) -> float:
        return self.scheduled / self.duration_s if self.duration_s else 0.0

    @property
    def achieved_rps(self) -> float:
        """Requests sent and answered per second over the time it took to send them."""
        window = max(self.sending_s, self.duration_s)
        return self.requests / window if window else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def dropped_rate(self) -> float:
        attempted = self.requests + self.dropped
        return self.dropped / attempted if attempted else 0.0
