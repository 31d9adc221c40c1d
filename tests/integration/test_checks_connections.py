"""Connection checks against real sessions: idle transactions, long queries, saturation.

Every extra session is closed (and every running query cancelled) in a finally block.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import psycopg
from psycopg import sql

from prodready.config import Config
from prodready.model import Finding, Severity
from prodready.sqlgen import render
from tests.conftest import TestDatabase


def only(findings: list[Finding], obj: str) -> Finding:
    matching = [x for x in findings if x.object == obj]
    assert len(matching) == 1, [x.object for x in findings]
    return matching[0]


@contextlib.contextmanager
def sessions(dsn: str, count: int) -> Iterator[list[psycopg.Connection]]:
    conns: list[psycopg.Connection] = []
    try:
        for _ in range(count):
            conns.append(psycopg.connect(dsn, autocommit=True))
        yield conns
    finally:
        for conn in conns:
            conn.close()


def pids_of(findings: list[Finding]) -> set[int]:
    return {x.evidence["pid"] for x in findings}


def wait_gone(db: TestDatabase, pid: int) -> None:
    """A closed connection's backend exits asynchronously: wait until the server forgets it."""
    deadline = time.monotonic() + 5
    while db.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)):
        assert time.monotonic() < deadline, f"backend {pid} did not exit"
        time.sleep(0.02)


def client_count(db: TestDatabase) -> int:
    rows = db.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    return int(rows[0][0])


# -- connection_saturation --


def test_saturation_silent_on_the_quiet_test_cluster(db: TestDatabase) -> None:
    assert db.findings("connection_saturation") == []


def test_saturation_and_idle_pool_with_tight_thresholds(db: TestDatabase) -> None:
    config = Config(
        options={"connection_saturation": {"high_percent": 1.0, "idle_min_usage_percent": 1.0}}
    )
    with sessions(db.dsn, 4):
        expected = client_count(db)  # our 4 idle sessions, plus the audit's own
        findings = db.findings("connection_saturation", config=config)
    saturation = only(findings, "max_connections")
    assert saturation.severity is Severity.HIGH
    ev = saturation.evidence
    assert ev["max_connections"] == 100 and ev["reserved_connections"] == 3
    assert ev["available"] == 97 and ev["client_connections"] == expected
    assert ev["by_state"]["idle"] >= 4 and ev["by_state"]["active"] >= 1  # the audit session
    idle = only(findings, "max_connections (idle)")
    assert idle.severity is Severity.MEDIUM and idle.evidence["idle_percent"] >= 50.0


def test_database_connection_limit_reached(fresh_db: TestDatabase) -> None:
    db = fresh_db
    db.execute(
        render(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 4").format(sql.Identifier(db.name)))
    )
    with sessions(db.dsn, 3):
        finding = only(db.findings("connection_saturation"), f"database {db.name}")
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence == {"connection_limit": 4, "connections": 4, "percent_used": 100.0}


# -- idle_in_transaction --


IDLE_CONFIG = Config(options={"idle_in_transaction": {"min_seconds": 0.5}})


def test_idle_in_transaction_real_session(db: TestDatabase) -> None:
    conn = psycopg.connect(db.dsn, application_name="forgetful-worker")
    try:
        conn.execute("SELECT 'card 4242' AS secret")  # opens a transaction, never commits
        pid = conn.info.backend_pid
        time.sleep(0.7)
        finding = only(
            db.findings("idle_in_transaction", config=IDLE_CONFIG), f"database {db.name}: pid {pid}"
        )
        # the default threshold (60 s) keeps a short pause silent
        assert pid not in pids_of(db.findings("idle_in_transaction"))
    finally:
        conn.close()
    wait_gone(db, pid)
    assert finding.severity is Severity.MEDIUM
    ev = finding.evidence
    assert ev["pid"] == pid and ev["user"] == "postgres"
    assert ev["application_name"] == "forgetful-worker"
    assert ev["state"] == "idle in transaction" and ev["state_age_s"] >= 0.5
    assert ev["query"] == "SELECT '?' AS secret"  # literals blanked by the collector
    assert pid not in pids_of(db.findings("idle_in_transaction", config=IDLE_CONFIG))


def test_idle_in_transaction_in_another_database(db: TestDatabase) -> None:
    conn = psycopg.connect(db.cluster.dsn("postgres"))
    try:
        conn.execute("SELECT 1")
        pid = conn.info.backend_pid
        time.sleep(0.7)
        findings = db.findings("idle_in_transaction", config=IDLE_CONFIG)
    finally:
        conn.close()
    finding = only(findings, f"another database: pid {pid}")
    assert finding.evidence["same_database"] is False and "another database" in finding.detail


def test_committed_session_is_silent(db: TestDatabase) -> None:
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        time.sleep(0.6)
        findings = db.findings("idle_in_transaction", config=IDLE_CONFIG)
        assert conn.info.backend_pid not in pids_of(findings)


# -- long_running_query --


def _sleep_in_background(dsn: str, seconds: int) -> tuple[threading.Thread, list[int]]:
    """Run pg_sleep on its own connection; the list receives its backend pid."""
    pids: list[int] = []

    def work() -> None:
        with psycopg.connect(dsn, autocommit=True, application_name="report-job") as conn:
            pids.append(conn.info.backend_pid)
            with contextlib.suppress(psycopg.errors.QueryCanceled):
                conn.execute("SELECT pg_sleep(%s) /* monthly report */", (seconds,))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not pids:
        assert time.monotonic() < deadline, "background session never connected"
        time.sleep(0.02)
    return thread, pids


def test_long_running_query_real_session(db: TestDatabase) -> None:
    thread, pids = _sleep_in_background(db.dsn, 30)
    try:
        time.sleep(0.8)
        config = Config(options={"long_running_query": {"min_seconds": 0.5}})
        findings = db.findings("long_running_query", config=config)
        assert pids[0] not in pids_of(db.findings("long_running_query"))  # default: 5 min
    finally:
        db.execute("SELECT pg_cancel_backend(%s)", (pids[0],))
        thread.join(timeout=10)
    assert not thread.is_alive()
    finding = only(findings, f"database {db.name}: pid {pids[0]}")
    assert finding.severity is Severity.MEDIUM and finding.fix is None
    ev = finding.evidence
    assert ev["application_name"] == "report-job" and ev["state"] == "active"
    assert ev["query_age_s"] >= 0.5
    assert ev["wait_event_type"] == "Timeout" and ev["wait_event"] == "PgSleep"
    assert "pg_sleep" in (ev["query"] or "")
