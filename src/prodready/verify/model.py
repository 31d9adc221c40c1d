"""verify's vocabulary: the statements it runs, what one measurement holds, a baseline.

A `Statement` is a workload statement made runnable: `sql` holds the values bound once at
capture (never re-bound), so a replay runs exactly what the baseline measured. A
`Measurement` is N timed runs of it plus the plan they used. A `Baseline` is what
`--save` writes; `Baseline.to_json()` / `Baseline.from_json()` are its file format.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

from prodready.errors import UsageError

TOOL = "prodready"
KIND = "verify-baseline"
SCHEMA = 1

DEFAULT_RUNS = 10
DEFAULT_WARMUP = 2
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
NOISE_RATIO = 1.2  # slower than this factor, and ...
NOISE_MS = 0.1  # ... by more than this, is a regression rather than noise

Status = Literal["measured", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("measured", "skipped", "failed")


@dataclass(frozen=True)
class VerifyOptions:
    """How to capture and replay.

    `runs`/`warmup` default to DEFAULT_RUNS/DEFAULT_WARMUP when capturing and to the
    baseline's own values when replaying (the same N both times). `limit` keeps the
    heaviest statements of the workload. A statement regresses when its p50 grows by more
    than `noise_ratio` and by more than `noise_ms`.
    """

    runs: int | None = None
    warmup: int | None = None
    allow_writes: bool = False
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    expect_speedup: float | None = None
    limit: int | None = None
    noise_ratio: float = NOISE_RATIO
    noise_ms: float = NOISE_MS
    fail_on_regression: bool = False

    def __post_init__(self) -> None:
        if self.runs is not None and self.runs < 1:
            raise UsageError(f"runs must be at least 1, not {self.runs}")
        if self.warmup is not None and self.warmup < 0:
            raise UsageError(f"warmup must be 0 or more, not {self.warmup}")
        if self.statement_timeout_ms < 1:
            raise UsageError("the statement timeout must be at least 1 ms")
        if self.expect_speedup is not None and not self.expect_speedup > 0:
            raise UsageError(f"expect_speedup must be a positive factor, not {self.expect_speedup}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"limit must be at least 1, not {self.limit}")


@dataclass(frozen=True)
class Statement:
    """A workload statement as verify runs it.

    `query` is the workload's text (it may hold `$n`); `sql` is what runs, with the values
    chosen at capture. `role` is SET for each run; `settings` are set_config(..., true)
    after it (e.g. a JWT claim RLS policies read). `writes` says why the statement writes
    (None for a read): writes run only when allowed, in a transaction that is rolled back.
    """

    id: str
    query: str
    sql: str
    calls: float
    role: str | None = None
    settings: tuple[tuple[str, str], ...] = ()
    writes: str | None = None
    name: str | None = None
    bind_method: str = "literal"
    bind_note: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "query": self.query,
            "sql": self.sql,
            "calls": self.calls,
            "role": self.role,
            "settings": dict(self.settings),
            "writes": self.writes,
            "bind": {"method": self.bind_method, "note": self.bind_note},
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Statement:
        obj = _object(data, where)
        bind = _object(obj.get("bind", {}), f"{where}.bind")
        settings = _object(obj.get("settings", {}), f"{where}.settings")
        return cls(
            id=_str(obj, "id", where),
            query=_str(obj, "query", where),
            sql=_str(obj, "sql", where),
            calls=_number(obj, "calls", where),
            role=_opt_str(obj, "role", where),
            settings=tuple((str(k), _setting(v, f"{where}.settings")) for k, v in settings.items()),
            writes=_opt_str(obj, "writes", where),
            name=_opt_str(obj, "name", where),
            bind_method=_opt_str(bind, "method", f"{where}.bind") or "literal",
            bind_note=_opt_str(bind, "note", f"{where}.bind"),
        )


@dataclass(frozen=True)
class Buffers:
    """Shared buffers the execution touched: found in cache (hit) or read from disk/OS."""

    shared_hit: int = 0
    shared_read: int = 0

    def to_json(self) -> dict[str, int]:
        return {"shared_hit": self.shared_hit, "shared_read": self.shared_read}


@dataclass(frozen=True)
class Measurement:
    """N timed runs of one statement (planning + execution, server clock) and its plan.

    `plan` is the compact plan signature most runs used, `indexes` the indexes it reads,
    `rows` what the top plan node returned (or wrote), `buffers` those of the first run.
    """

    runs_ms: tuple[float, ...]
    plan: str
    indexes: tuple[str, ...] = ()
    buffers: Buffers = field(default_factory=Buffers)
    rows: float = 0.0
    planning_ms: float = 0.0
    plans_seen: int = 1

    @property
    def p50_ms(self) -> float:
        return percentile(self.runs_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.runs_ms, 95)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.runs_ms)

    def summary(self) -> dict[str, Any]:
        """The figures a comparison shows (before/after blocks of the JSON contract)."""
        return {
            "p50_ms": round(self.p50_ms, 4),
            "p95_ms": round(self.p95_ms, 4),
            "mean_ms": round(self.mean_ms, 4),
            "plan": self.plan,
            "indexes": list(self.indexes),
            "buffers": self.buffers.to_json(),
            "rows": self.rows,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "min_ms": round(min(self.runs_ms), 4),
            "max_ms": round(max(self.runs_ms), 4),
            "planning_ms": round(self.planning_ms, 4),
            "plans_seen": self.plans_seen,
            "runs_ms": [round(r, 4) for r in self.runs_ms],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Measurement:
        obj = _object(data, where)
        runs = obj.get("runs_ms")
        if not isinstance(runs, list) or not runs or not all(_is_number(r) for r in runs):
            raise _malformed(f"{where}.runs_ms must be a non-empty list of numbers")
        buffers = _object(obj.get("buffers", {}), f"{where}.buffers")
        indexes = obj.get("indexes", [])
        if not isinstance(indexes, list) or not all(isinstance(i, str) for i in indexes):
            raise _malformed(f"{where}.indexes must be a list of index names")
        return cls(
            runs_ms=tuple(float(r) for r in runs),
            plan=_str(obj, "plan", where),
            indexes=tuple(indexes),
            buffers=Buffers(
                int(_number(buffers, "shared_hit", f"{where}.buffers", 0)),
                int(_number(buffers, "shared_read", f"{where}.buffers", 0)),
            ),
            rows=_number(obj, "rows", where, 0.0),
            planning_ms=_number(obj, "planning_ms", where, 0.0),
            plans_seen=int(_number(obj, "plans_seen", where, 1)),
        )


@dataclass(frozen=True)
class Captured:
    """One statement of a baseline: measured, skipped (with why) or failed (with the error)."""

    statement: Statement
    status: Status
    measurement: Measurement | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.statement.to_json(),
            "status": self.status,
            "reason": self.reason,
            "measurement": self.measurement.to_json() if self.measurement else None,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Captured:
        obj = _object(data, where)
        status = obj.get("status")
        if status not in STATUSES:
            raise _malformed(f"{where}.status must be one of {', '.join(STATUSES)}")
        raw = obj.get("measurement")
        measurement = None if raw is None else Measurement.from_json(raw, f"{where}.measurement")
        if status == "measured" and measurement is None:
            raise _malformed(f"{where} is measured but has no measurement")
        reason = _opt_str(obj, "reason", where)
        return cls(Statement.from_json(obj, where), status, measurement, reason)


@dataclass(frozen=True)
class Unrunnable:
    """A workload statement verify could not turn into something to run, and why."""

    query: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"query": self.query, "reason": self.reason}


@dataclass(frozen=True)
class Baseline:
    """What `prodready verify --save` measured: the file a later replay compares against."""

    created_at: str
    database: str
    server_version: str
    runs: int
    warmup: int
    statement_timeout_ms: int
    allow_writes: bool
    statements: tuple[Captured, ...]
    unrunnable: tuple[Unrunnable, ...] = ()
    notes: tuple[str, ...] = ()
    version: str = ""

    @property
    def measured(self) -> list[Captured]:
        return [c for c in self.statements if c.measurement is not None]

    @property
    def weighted_ms(self) -> float:
        """Sum of calls x mean over the measured statements: database ms per workload unit."""
        return sum(
            c.statement.calls * c.measurement.mean_ms for c in self.measured if c.measurement
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": TOOL,
            "kind": KIND,
            "schema": SCHEMA,
            "version": self.version,
            "created_at": self.created_at,
            "target": {"database": self.database, "server_version": self.server_version},
            "options": {
                "runs": self.runs,
                "warmup": self.warmup,
                "statement_timeout_ms": self.statement_timeout_ms,
                "allow_writes": self.allow_writes,
                "timing": "server: EXPLAIN (ANALYZE, TIMING OFF) planning + execution time",
            },
            "statements": [c.to_json() for c in self.statements],
            "unrunnable": [u.to_json() for u in self.unrunnable],
            "weighted_ms": round(self.weighted_ms, 4),
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Any) -> Baseline:
        """Validate and read a baseline; anything else raises a one-line UsageError."""
        if not isinstance(data, dict) or data.get("tool") != TOOL or data.get("kind") != KIND:
            raise UsageError("not a prodready verify baseline (expected kind 'verify-baseline')")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise _malformed("schema must be an integer")
        if schema > SCHEMA:
            raise UsageError(
                f"baseline schema {schema} is newer than this prodready reads ({SCHEMA}): upgrade"
            )
        target = _object(data.get("target", {}), "target")
        options = _object(data.get("options"), "options")
        statements = data.get("statements")
        if not isinstance(statements, list):
            raise _malformed("statements must be a list")
        captured = tuple(
            Captured.from_json(s, f"statements[{i}]") for i, s in enumerate(statements)
        )
        ids = [c.statement.id for c in captured]
        if len(set(ids)) != len(ids):
            raise _malformed("statement ids are not unique")
        unrunnable = data.get("unrunnable", [])
        if not isinstance(unrunnable, list):
            raise _malformed("unrunnable must be a list")
        notes = data.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise _malformed("notes must be a list of strings")
        return cls(
            created_at=_opt_str(data, "created_at", "baseline") or "",
            database=_opt_str(target, "database", "target") or "",
            server_version=_opt_str(target, "server_version", "target") or "",
            runs=_count(options, "runs", 1),
            warmup=_count(options, "warmup", 0),
            statement_timeout_ms=_count(options, "statement_timeout_ms", 1),
            allow_writes=bool(options.get("allow_writes", False)),
            statements=captured,
            unrunnable=tuple(
                Unrunnable(
                    _str(_object(u, f"unrunnable[{i}]"), "query", f"unrunnable[{i}]"),
                    _str(_object(u, f"unrunnable[{i}]"), "reason", f"unrunnable[{i}]"),
                )
                for i, u in enumerate(unrunnable)
            ),
            notes=tuple(notes),
            version=_opt_str(data, "version", "baseline") or "",
        )


# -- statistics ------------------------------------------------------------------------------


def percentile(values: tuple[float, ...] | list[float], pct: float) -> float:
    """The pct-th percentile, interpolated between the closest ranks (p50 is the median)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- validation helpers ----------------------------------------------------------------------


def _malformed(what: str) -> UsageError:
    return UsageError(f"malformed verify baseline: {what}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{where} must be an object")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(f"{where}.{key} must be a non-empty string")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _malformed(f"{where}.{key} must be a string or null")
    return value


def _setting(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _malformed(f"{where} values must be strings")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(obj: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value: Any = obj.get(key, default)
    if not _is_number(value):
        raise _malformed(f"{where}.{key} must be a number")
    return float(value)


def _count(obj: dict[str, Any], key: str, minimum: int) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _malformed(f"options.{key} must be an integer >= {minimum}")
    return value
