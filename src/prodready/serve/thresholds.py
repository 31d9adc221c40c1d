"""The thresholds the dashboard colours by and the alert rules fire on: declared once."""

from __future__ import annotations

from dataclasses import dataclass

XID_WRAP = 2**31


@dataclass(frozen=True)
class Thresholds:
    statement_p95_ms: float = 200.0
    connections_percent: float = 80.0
    idle_in_transaction_s: float = 60.0
    long_running_s: float = 300.0
    replication_lag_s: float = 30.0
    wraparound_percent: float = 40.0
    drill_max_age_days: float = 8.0
    cache_hit_percent: float = 95.0
    readiness_drop: float = 1.0


DEFAULT = Thresholds()
