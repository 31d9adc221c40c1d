"""Connection checks from hand-built snapshots: saturation, idle transactions, long queries."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.connections import duration
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


# -- connection_saturation --


def conn_snap(
    active: int, idle: int = 0, unknown: int = 0, max_connections: str = "100", **kw: Any
) -> s.Snapshot:
    states = ["active"] * active + ["idle"] * idle + [None] * unknown
    sessions = [f.activity(100 + i, state=state) for i, state in enumerate(states)]
    background = [
        f.activity(1, backend_type="autovacuum launcher", state=None, user=None),
        f.activity(2, backend_type="walsender", state="active"),
        f.activity(3, backend_type="parallel worker", state="active"),
    ]
    settings = [
        f.setting("max_connections", max_connections),
        f.setting("superuser_reserved_connections", "3"),
        *kw.pop("extra_settings", []),
    ]
    return f.snapshot(settings=settings, activity=background + sessions, **kw)


def test_saturation_below_threshold_is_silent() -> None:
    assert run("connection_saturation", conn_snap(active=70)) == []


def test_saturation_high_above_80_percent_of_available() -> None:
    (finding,) = run("connection_saturation", conn_snap(active=60, idle=20))
    assert finding.object == "max_connections" and finding.severity is Severity.HIGH
    ev = finding.evidence
    assert ev["available"] == 97 and ev["client_connections"] == 80
    assert ev["percent_used"] == 82.5 and ev["by_state"] == {"active": 60, "idle": 20}
    assert finding.fix is None and "80 of the 97" in finding.detail


def test_saturation_critical_above_95_percent() -> None:
    (finding,) = run("connection_saturation", conn_snap(active=93))
    assert finding.severity is Severity.CRITICAL


def test_saturation_subtracts_pg16_reserved_connections() -> None:
    snap = conn_snap(active=75, extra_settings=[f.setting("reserved_connections", "5")])
    (finding,) = run("connection_saturation", snap)
    assert finding.evidence["available"] == 92 and finding.evidence["reserved_connections"] == 8


def test_saturation_thresholds_are_configurable() -> None:
    (finding,) = run("connection_saturation", conn_snap(active=60), high_percent=60.0)
    assert finding.severity is Severity.HIGH


def test_many_idle_connections_suggest_a_pooler() -> None:
    (finding,) = run("connection_saturation", conn_snap(active=10, idle=50))
    assert finding.object == "max_connections (idle)" and finding.severity is Severity.MEDIUM
    assert finding.evidence["idle_percent"] == 83.3 and "pooler" in finding.detail


@pytest.mark.parametrize(
    "snap",
    [
        conn_snap(active=2, idle=30),  # idle but far from the limit: an app pool, harmless
        conn_snap(active=40, idle=20),  # busy, mostly active
        conn_snap(active=5, idle=10, unknown=50),  # states hidden from this role
        f.snapshot(),  # max_connections not visible
    ],
    ids=["low-usage", "mostly-active", "states-hidden", "no-settings"],
)
def test_saturation_silent_cases(snap: s.Snapshot) -> None:
    assert run("connection_saturation", snap) == []


def test_database_connection_limit() -> None:
    snap = conn_snap(active=9, database=f.database(conn_limit=10))
    (finding,) = run("connection_saturation", snap)
    assert finding.object == "database app" and finding.severity is Severity.HIGH
    assert finding.evidence == {"connection_limit": 10, "connections": 9, "percent_used": 90.0}
    roomy = conn_snap(active=9, database=f.database(conn_limit=50))
    assert run("connection_saturation", roomy) == []


# -- idle_in_transaction --


def idle_tx(pid: int = 1234, idle: float = 120.0, xact: float = 125.0, **kw: Any) -> s.Activity:
    kw.setdefault("state", "idle in transaction")
    return f.activity(pid, state_age_s=idle, xact_age_s=xact, query="UPDATE t SET x = '?'", **kw)


def test_idle_in_transaction_fires_medium() -> None:
    (finding,) = run("idle_in_transaction", f.snapshot(activity=[idle_tx()]))
    assert finding.object == "database app: pid 1234" and finding.severity is Severity.MEDIUM
    ev = finding.evidence
    assert ev["pid"] == 1234 and ev["user"] == "app" and ev["application_name"] == "web"
    assert ev["state_age_s"] == 120.0 and ev["xact_age_s"] == 125.0
    assert ev["query"] == "UPDATE t SET x = '?'"
    assert finding.fix is None and "2 min" in finding.detail


def test_idle_in_transaction_aborted_and_old_is_high() -> None:
    session = idle_tx(idle=700.0, xact=800.0, state="idle in transaction (aborted)")
    (finding,) = run("idle_in_transaction", f.snapshot(activity=[session]))
    assert finding.severity is Severity.HIGH and "(aborted)" in finding.detail


def test_idle_in_transaction_in_another_database_is_kept_with_a_note() -> None:
    (finding,) = run("idle_in_transaction", f.snapshot(activity=[idle_tx(same_database=False)]))
    assert finding.object == "another database: pid 1234"
    assert "another database" in finding.detail and finding.evidence["same_database"] is False


@pytest.mark.parametrize(
    "session",
    [
        idle_tx(idle=30.0),  # under a minute
        idle_tx(is_self=True),
        f.activity(7, state="idle", state_age_s=9999.0),
        f.activity(8, state=None, state_age_s=None),  # state hidden from this role
    ],
    ids=["short", "self", "plain-idle", "hidden"],
)
def test_idle_in_transaction_silent_cases(session: s.Activity) -> None:
    assert run("idle_in_transaction", f.snapshot(activity=[session])) == []


def test_idle_in_transaction_threshold_is_configurable() -> None:
    snap = f.snapshot(activity=[idle_tx(idle=5.0, xact=6.0)])
    (finding,) = run("idle_in_transaction", snap, min_seconds=1.0)
    assert finding.evidence["state_age_s"] == 5.0


# -- long_running_query --


def running(pid: int = 4321, seconds: float = 600.0, **kw: Any) -> s.Activity:
    kw.setdefault("query", "SELECT * FROM orders WHERE note LIKE '?'")
    return f.activity(pid, state="active", query_age_s=seconds, xact_age_s=seconds, **kw)


def test_long_running_query_medium_and_high() -> None:
    (finding,) = run("long_running_query", f.snapshot(activity=[running()]))
    assert finding.object == "database app: pid 4321" and finding.severity is Severity.MEDIUM
    assert finding.evidence["query_age_s"] == 600.0 and "10 min" in finding.detail
    (finding,) = run("long_running_query", f.snapshot(activity=[running(seconds=8000.0)]))
    assert finding.severity is Severity.HIGH and "2.2 h" in finding.detail


def test_long_running_query_mentions_its_wait() -> None:
    session = running(wait_event_type="Lock", wait_event="relation")
    (finding,) = run("long_running_query", f.snapshot(activity=[session]))
    assert "waiting on Lock/relation" in finding.detail


@pytest.mark.parametrize(
    "session",
    [
        running(seconds=100.0),
        running(is_self=True),
        running(backend_type="autovacuum worker", query="autovacuum: VACUUM public.t"),
        running(backend_type="walsender", query="START_REPLICATION 0/0"),
        f.activity(9, state="idle", query_age_s=9999.0),
    ],
    ids=["short", "self", "autovacuum", "walsender", "idle"],
)
def test_long_running_query_silent_cases(session: s.Activity) -> None:
    assert run("long_running_query", f.snapshot(activity=[session])) == []


@pytest.mark.parametrize(
    ("kw", "severity"),
    [
        ({"query": "VACUUM (VERBOSE) orders"}, Severity.INFO),
        ({"query": "vacuum full orders"}, Severity.MEDIUM),  # ACCESS EXCLUSIVE: flagged
        ({"query": "CREATE INDEX CONCURRENTLY i ON t (x)"}, Severity.INFO),
        ({"query": "CREATE INDEX i ON t (x)"}, Severity.MEDIUM),  # blocks writes
        ({"query": "REINDEX INDEX CONCURRENTLY i"}, Severity.INFO),
        ({"query": "COPY public.t (a) TO stdout;", "application_name": "x"}, Severity.INFO),
        ({"application_name": "pg_dump"}, Severity.INFO),
    ],
)
def test_long_running_maintenance_is_only_noted(kw: dict[str, Any], severity: Severity) -> None:
    (finding,) = run("long_running_query", f.snapshot(activity=[running(**kw)]))
    assert finding.severity is severity


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (720, "12 min"), (12_600, "3.5 h"), (4 * 86400, "4 days")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text
