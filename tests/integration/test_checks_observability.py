"""Observability checks against the real test cluster (pg_stat_statements preloaded)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from prodready.model import Severity
from prodready.sqlgen import render
from tests.conftest import TestDatabase

PASSWORD = "prodready-observer"


def wait_for_setting(db: TestDatabase, name: str, expected: str) -> None:
    """pg_reload_conf() only signals the postmaster: wait until new sessions see the value."""
    deadline = time.monotonic() + 5
    while db.query(render(sql.SQL("SHOW {}").format(sql.Identifier(name)))) != [(expected,)]:
        assert time.monotonic() < deadline, f"{name} never became {expected}"
        time.sleep(0.05)


@pytest.fixture
def observer(db: TestDatabase) -> Iterator[str]:
    """A plain login role without pg_monitor: it cannot see other sessions or preloads."""
    role = f"observer_{db.name}"
    db.execute(
        render(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)
            )
        )
    )
    try:
        yield role
    finally:
        db.execute(render(sql.SQL("DROP ROLE {}").format(sql.Identifier(role))))


# -- pg_stat_statements_missing --


def test_pgss_installed_and_preloaded_is_silent(db: TestDatabase) -> None:
    snap = db.snapshot()
    assert snap.statements is not None
    assert db.findings("pg_stat_statements_missing", snapshot=snap) == []


def test_pgss_dropped_extension_create_fix_and_rollback(fresh_db: TestDatabase) -> None:
    db = fresh_db
    db.execute("DROP EXTENSION pg_stat_statements")
    (finding,) = db.findings("pg_stat_statements_missing")
    assert finding.object == f"database {db.name}" and finding.severity is Severity.MEDIUM
    assert finding.evidence == {
        "reason": "extension not installed in this database",
        "extension_installed": False,
        "preloaded": True,
        "shared_preload_libraries": "pg_stat_statements",
    }
    assert finding.fix is not None and finding.fix.rollback_sql
    db.apply(finding.fix.sql)
    assert db.findings("pg_stat_statements_missing") == []
    db.apply(finding.fix.rollback_sql)
    assert len(db.findings("pg_stat_statements_missing")) == 1


def test_pgss_missing_seen_by_a_role_that_cannot_read_preloads(fresh_db: TestDatabase) -> None:
    db = fresh_db
    role = f"observer_{db.name}"
    db.execute("DROP EXTENSION pg_stat_statements")
    db.execute(
        render(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)
            )
        )
    )
    try:
        snap = db.snapshot(db.dsn_as(role, PASSWORD))
    finally:
        db.execute(render(sql.SQL("DROP ROLE {}").format(sql.Identifier(role))))
    (finding,) = db.findings("pg_stat_statements_missing", snapshot=snap)
    assert finding.evidence["preloaded"] is None and finding.fix is None
    assert "cannot see shared_preload_libraries" in finding.detail


# -- slow_query_logging_disabled --


def test_slow_query_logging_default_fires_and_alter_system_fix(db: TestDatabase) -> None:
    (finding,) = db.findings("slow_query_logging_disabled")
    assert finding.severity is Severity.LOW
    assert finding.evidence["log_min_duration_statement_ms"] == -1.0
    assert finding.evidence["source"] == "default"
    fix = finding.fix
    assert fix is not None and fix.rollback_sql and not fix.transactional
    try:
        db.apply(fix.sql, transactional=False)
        wait_for_setting(db, "log_min_duration_statement", "500ms")
        assert db.findings("slow_query_logging_disabled") == []
        db.apply(fix.rollback_sql, transactional=False)
        wait_for_setting(db, "log_min_duration_statement", "-1")
        assert len(db.findings("slow_query_logging_disabled")) == 1
    finally:
        db.execute("ALTER SYSTEM RESET log_min_duration_statement")
        db.execute("SELECT pg_reload_conf()")
    wait_for_setting(db, "log_min_duration_statement", "-1")


def test_slow_query_logging_per_database_values(fresh_db: TestDatabase) -> None:
    db = fresh_db
    alter = sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = {}")
    name = sql.Identifier(db.name)
    db.execute(render(alter.format(name, sql.Literal("250ms"))))
    assert db.findings("slow_query_logging_disabled") == []

    db.execute(render(alter.format(name, sql.Literal(0))))
    (finding,) = db.findings("slow_query_logging_disabled")
    assert finding.severity is Severity.MEDIUM and finding.evidence["source"] == "database"
    # ALTER SYSTEM would not override a database-level value: no fix offered
    assert finding.fix is None and "database level" in finding.detail


# -- collector_limitations --


def test_collector_limitations_silent_for_a_superuser(db: TestDatabase) -> None:
    snap = db.snapshot()
    assert snap.limitations == []
    assert db.findings("collector_limitations", snapshot=snap) == []


def test_collector_limitations_for_an_unprivileged_role(db: TestDatabase, observer: str) -> None:
    # another session of a different role, so there is something the observer cannot see
    with psycopg.connect(db.dsn, autocommit=True):
        snap = db.snapshot(db.dsn_as(observer, PASSWORD))
    findings = db.findings("collector_limitations", snapshot=snap)
    by_object = {x.object: x for x in findings}
    assert {"collector: activity", "collector: settings"} <= set(by_object)
    activity = by_object["collector: activity"]
    assert activity.severity is Severity.INFO and activity.fix is None
    assert activity.evidence["role"] == observer
    assert "pg_read_all_stats" in activity.detail
    assert "pg_read_all_settings" in by_object["collector: settings"].detail
