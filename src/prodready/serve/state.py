"""What the page shows, derived from the recent samples: deltas, series, chains. No I/O."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prodready.serve.model import DatabaseCounters, LockWait, Sample, Slow, StatementCounters
from prodready.serve.thresholds import DEFAULT, XID_WRAP, Thresholds

POINTS = 120  # ten minutes at the default 5 s refresh
P95_Z = 1.645  # normal approximation: mean + 1.645 sigma


@dataclass(frozen=True)
class Readiness:
    """The latest audit: score, findings by severity, the most severe few."""

    score: float
    by_severity: dict[str, int]
    top: list[dict[str, str]]
    audited_at: float
    error: str | None = None


@dataclass(frozen=True)
class Drill:
    """The newest restore drill in the --backups directory."""

    dump: str
    ok: bool
    finished_at: str
    age_s: float
    rto_s: float
    rpo_s: float


@dataclass
class History:
    """Recent samples and the latest audit; every method is safe across threads."""

    thresholds: Thresholds = DEFAULT
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=POINTS))
    slow: Slow | None = None
    first_slow: Slow | None = None
    readiness: Readiness | None = None
    drill: Drill | None = None
    texts: dict[str, str] = field(default_factory=dict)
    down_since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)
            if sample.up:
                self.down_since = None
                if sample.slow is not None:
                    self.slow = sample.slow
                    self.first_slow = self.first_slow or sample.slow
            elif self.down_since is None:
                self.down_since = sample.taken_at

    def latest(self) -> Sample | None:
        with self._lock:
            return self.samples[-1] if self.samples else None

    def last_up_pair(self) -> tuple[Sample | None, Sample | None]:
        """The two newest samples that read the database (previous, latest)."""
        with self._lock:
            up = [s for s in self.samples if s.up]
        return (up[-2] if len(up) > 1 else None), (up[-1] if up else None)

    def up_samples(self) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.up]


# -- derived values (pure functions over samples) --


def connections_by_state(sample: Sample) -> dict[str, int]:
    """Client sessions of the whole server by state (max_connections is server-wide)."""
    states: dict[str, int] = {}
    for row in sample.activity:
        states[row.state] = states.get(row.state, 0) + row.count
    return dict(sorted(states.items()))


def connections_percent(sample: Sample) -> float:
    total = sum(connections_by_state(sample).values())
    return round(100.0 * total / sample.max_connections, 1) if sample.max_connections else 0.0


def rate(prev: DatabaseCounters | None, cur: DatabaseCounters | None, dt: float) -> float | None:
    """Transactions per second between two samples (None across a stats reset)."""
    if prev is None or cur is None or dt <= 0:
        return None
    delta = (cur.xact_commit + cur.xact_rollback) - (prev.xact_commit + prev.xact_rollback)
    return round(delta / dt, 1) if delta >= 0 else None


def cache_hit_percent(prev: DatabaseCounters | None, cur: DatabaseCounters | None) -> float | None:
    """Share of block reads served from shared buffers; lifetime when there is no previous."""
    if cur is None:
        return None
    hit, read = cur.blks_hit, cur.blks_read
    if prev is not None:
        hit, read = hit - prev.blks_hit, read - prev.blks_read
    if hit < 0 or read < 0 or hit + read == 0:
        return None
    return round(100.0 * hit / (hit + read), 2)


@dataclass(frozen=True)
class StatementDelta:
    queryid: str
    calls: int
    total_ms: float
    mean_ms: float
    p95_ms: float
    rows: int


def statement_deltas(
    prev: list[StatementCounters] | None, cur: list[StatementCounters] | None, limit: int = 10
) -> list[StatementDelta]:
    """Statements by database time spent between two refreshes (not lifetime totals).

    p95 is approximated as mean + 1.645 sigma from pg_stat_statements' lifetime spread,
    centred on the interval's mean; pg_stat_statements keeps no histogram.
    """
    if prev is None or cur is None:
        return []
    before = {s.queryid: s for s in prev}
    deltas = []
    for stmt in cur:
        old = before.get(stmt.queryid)
        calls = stmt.calls - (old.calls if old else 0)
        total = stmt.total_ms - (old.total_ms if old else 0.0)
        if calls <= 0 or total <= 0:
            continue  # idle in this interval, or the entry was evicted and re-created
        mean = total / calls
        deltas.append(
            StatementDelta(
                stmt.queryid, calls, round(total, 2), round(mean, 3),
                round(mean + P95_Z * stmt.stddev_ms, 3), stmt.rows - (old.rows if old else 0),
            )
        )  # fmt: skip
    deltas.sort(key=lambda d: d.total_ms, reverse=True)
    return deltas[:limit]


def lock_chains(locks: list[LockWait]) -> list[str]:
    """`waiter <- blocker <- root blocker` for each waiting session (cycles cut)."""
    blockers = {lock.pid: lock.blocked_by for lock in locks}
    chains = []
    for lock in locks:
        chain, pid, seen = [lock.pid], lock.pid, {lock.pid}
        while blockers.get(pid):
            pid = blockers[pid][0]
            if pid in seen:
                chain.append(pid)
                break
            chain.append(pid)
            seen.add(pid)
        chains.append(" \u2190 ".join(str(p) for p in chain))
    return chains


def series(samples: list[Sample]) -> dict[str, list[tuple[float, float]]]:
    """(time, value) points for the small charts."""
    out: dict[str, list[tuple[float, float]]] = {
        "connections": [], "tps": [], "cache_hit": [], "statement_ms_per_s": [],
    }  # fmt: skip
    for prev, cur in zip([None, *samples], samples, strict=False):
        out["connections"].append((cur.taken_at, float(sum(connections_by_state(cur).values()))))
        if prev is None:
            continue
        dt = cur.taken_at - prev.taken_at
        now_db, then_db = cur.current_database(), prev.current_database()
        tps = rate(then_db, now_db, dt)
        if tps is not None:
            out["tps"].append((cur.taken_at, tps))
        hit = cache_hit_percent(then_db, now_db)
        if hit is not None:
            out["cache_hit"].append((cur.taken_at, hit))
        spent = sum(d.total_ms for d in statement_deltas(prev.statements, cur.statements, 10**6))
        if cur.statements is not None and dt > 0:
            out["statement_ms_per_s"].append((cur.taken_at, round(spent / dt, 2)))
    return out


def wraparound_percent(age: int) -> float:
    return round(100.0 * age / XID_WRAP, 2)


def view(history: History, now: float) -> dict[str, Any]:
    """Everything the page and /api/state show, as plain data."""
    prev, cur = history.last_up_pair()
    latest = history.latest()
    t = history.thresholds
    data: dict[str, Any] = {
        "up": bool(latest and latest.up),
        "error": latest.error if latest and not latest.up else None,
        "down_since": history.down_since,
        "taken_at": latest.taken_at if latest else None,
        "thresholds": t.__dict__,
        "readiness": history.readiness.__dict__ if history.readiness else None,
        "drill": history.drill.__dict__ if history.drill else None,
    }
    if cur is None:
        return data
    db_now = cur.current_database()
    db_prev = prev.current_database() if prev else None
    dt = cur.taken_at - prev.taken_at if prev else 0.0
    top = statement_deltas(prev.statements if prev else None, cur.statements)
    data.update(
        database=cur.database,
        last_read_at=cur.taken_at,
        refresh_cost={"queries": cur.queries, "db_time_ms": cur.db_time_ms},
        connections={
            "by_state": connections_by_state(cur),
            "total": sum(connections_by_state(cur).values()),
            "max": cur.max_connections,
            "percent": connections_percent(cur),
        },
        tps=rate(db_prev, db_now, dt),
        cache_hit=cache_hit_percent(db_prev, db_now),
        cache_hit_lifetime=cache_hit_percent(None, db_now),
        pg_stat_statements=cur.statements is not None,
        statements=[{**d.__dict__, "query": history.texts.get(d.queryid, "")} for d in top],
        sessions=[s.__dict__ for s in cur.sessions],
        locks=[{**lock.__dict__, "chain": chain}
               for lock, chain in zip(cur.locks, lock_chains(cur.locks), strict=True)],
        replicas=[r.__dict__ for r in cur.replicas],
        standby_lag_s=cur.standby_lag_s,
        archiver=cur.archiver.__dict__ if cur.archiver else None,
        wraparound=[{"datname": d.datname, "age": d.frozen_xid_age,
                     "percent": wraparound_percent(d.frozen_xid_age)} for d in cur.databases],
        series=series(history.up_samples()),
    )  # fmt: skip
    slow, first = history.slow, history.first_slow
    if slow is not None:
        growth = None
        if first is not None and slow.taken_at > first.taken_at:
            hours = (slow.taken_at - first.taken_at) / 3600
            growth = round((slow.database_bytes - first.database_bytes) / hours)
        data.update(
            database_bytes=slow.database_bytes,
            growth_bytes_per_h=growth,
            sizes=table_growth(first, slow),
            vacuum=[v.__dict__ for v in slow.vacuum],
        )
    if history.drill is not None:
        data["drill"] = {**history.drill.__dict__, "age_s": now - _drill_epoch(history.drill)}
    return data


def table_growth(first: Slow | None, latest: Slow) -> list[dict[str, Any]]:
    """The largest tables with bytes per hour since the dashboard's first reading of them."""
    before = {r.name: r for r in first.sizes} if first else {}
    hours = (latest.taken_at - first.taken_at) / 3600 if first else 0.0
    rows = []
    for row in latest.sizes:
        old = before.get(row.name)
        growth = None
        if old is not None and hours > 0:
            total = row.table_bytes + row.index_bytes - old.table_bytes - old.index_bytes
            growth = round(total / hours)
        rows.append({**row.__dict__, "growth_bytes_per_h": growth})
    return rows


def _drill_epoch(drill: Drill) -> float:
    from datetime import datetime

    return datetime.fromisoformat(drill.finished_at).timestamp()
