"""Observability checks from hand-built snapshots: pg_stat_statements, slow-query logging and
what the collector could not see."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f

PGSS = "pg_stat_statements"
NOT_INSTALLED = s.Limitation(PGSS, "extension not installed in this database")
NOT_LOADED = s.Limitation(PGSS, 'pg_stat_statements must be loaded via "shared_preload_libraries"')


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


def pgss_snap(
    preload: str | None = "pg_stat_statements", installed: bool = False, **kw: Any
) -> s.Snapshot:
    settings = [] if preload is None else [f.setting("shared_preload_libraries", preload)]
    extensions = [s.Extension(PGSS, "public", "1.10", True)] if installed else []
    kw.setdefault("limitations", [NOT_LOADED if installed else NOT_INSTALLED])
    return f.snapshot(settings=settings, extensions=extensions, statements=None, **kw)


# -- pg_stat_statements_missing --


def test_pgss_present_is_silent() -> None:
    assert run("pg_stat_statements_missing", f.snapshot(statements=[])) == []


def test_pgss_preloaded_but_not_created_gets_create_extension() -> None:
    (finding,) = run("pg_stat_statements_missing", pgss_snap("auto_explain, pg_stat_statements"))
    assert finding.object == "database app" and finding.severity is Severity.MEDIUM
    assert finding.evidence == {
        "reason": "extension not installed in this database", "extension_installed": False,
        "preloaded": True, "shared_preload_libraries": "auto_explain, pg_stat_statements",
    }  # fmt: skip
    assert finding.fix is not None
    assert finding.fix.sql == 'CREATE EXTENSION "pg_stat_statements"'
    assert finding.fix.rollback_sql == 'DROP EXTENSION "pg_stat_statements"'


def test_pgss_not_preloaded_needs_a_restart_and_has_no_fix() -> None:
    (finding,) = run("pg_stat_statements_missing", pgss_snap(""))
    assert finding.fix is None and finding.evidence["preloaded"] is False
    assert "restart" in finding.detail and "CREATE EXTENSION" in finding.detail


def test_pgss_installed_but_library_not_loaded() -> None:
    (finding,) = run("pg_stat_statements_missing", pgss_snap("", installed=True))
    assert finding.fix is None and finding.evidence["extension_installed"] is True
    assert "shared_preload_libraries" in finding.evidence["reason"]
    assert "restart" in finding.detail and "CREATE EXTENSION" not in finding.detail


def test_pgss_preload_invisible_to_the_role() -> None:
    (finding,) = run("pg_stat_statements_missing", pgss_snap(None))
    assert finding.fix is None and finding.evidence["preloaded"] is None
    assert "cannot see shared_preload_libraries" in finding.detail


def test_pgss_on_a_standby_has_no_fix_and_no_limitation_still_reports() -> None:
    (finding,) = run("pg_stat_statements_missing", pgss_snap(server=f.server(in_recovery=True)))
    assert finding.fix is None
    (finding,) = run("pg_stat_statements_missing", pgss_snap(limitations=[]))
    assert finding.evidence["reason"] == "statistics were not collected"


# -- slow_query_logging_disabled --


def logging_snap(value: str, source: str = "default", *extra: s.Setting, **kw: Any) -> s.Snapshot:
    lmd = f.setting("log_min_duration_statement", value, "ms", source=source)
    return f.snapshot(settings=[lmd, *extra], **kw)


def test_slow_query_logging_off_is_low_with_alter_system_fix() -> None:
    (finding,) = run("slow_query_logging_disabled", logging_snap("-1"))
    assert finding.object == "log_min_duration_statement" and finding.severity is Severity.LOW
    assert finding.evidence["log_min_duration_statement_ms"] == -1.0
    assert finding.fix is not None and finding.fix.transactional is False
    assert finding.fix.sql == (
        """ALTER SYSTEM SET "log_min_duration_statement" = '500ms';\nSELECT pg_reload_conf()"""
    )
    assert finding.fix.rollback_sql == (
        'ALTER SYSTEM RESET "log_min_duration_statement";\nSELECT pg_reload_conf()'
    )


def test_slow_query_logging_zero_is_medium_noise() -> None:
    (finding,) = run("slow_query_logging_disabled", logging_snap("0", "configuration file"))
    assert finding.severity is Severity.MEDIUM and "every statement" in finding.detail
    assert finding.fix is not None


def test_slow_query_logging_very_low_threshold_is_low() -> None:
    (finding,) = run("slow_query_logging_disabled", logging_snap("5"))
    assert finding.severity is Severity.LOW and "5 ms" in finding.detail
    assert run("slow_query_logging_disabled", logging_snap("5"), noisy_below_ms=1.0) == []


@pytest.mark.parametrize(
    "snap",
    [
        logging_snap("500"),
        logging_snap("10"),
        logging_snap("-1", "default", f.setting("auto_explain.log_min_duration", "250", "ms")),
        logging_snap(
            "-1",
            "default",
            f.setting("log_min_duration_sample", "100", "ms"),
            f.setting("log_statement_sample_rate", "0.1"),
        ),
        f.snapshot(),
    ],
    ids=["500ms", "10ms", "auto-explain", "sampled", "not-visible"],
)
def test_slow_query_logging_silent_cases(snap: s.Snapshot) -> None:
    assert run("slow_query_logging_disabled", snap) == []


def test_slow_query_logging_auto_explain_without_threshold_still_fires() -> None:
    snap = logging_snap("-1", "default", f.setting("auto_explain.log_min_duration", "-1", "ms"))
    (finding,) = run("slow_query_logging_disabled", snap)
    assert finding.evidence["auto_explain_log_min_duration"] == "-1"


def test_slow_query_logging_set_per_database_has_no_alter_system_fix() -> None:
    (finding,) = run("slow_query_logging_disabled", logging_snap("-1", "database"))
    assert finding.fix is None and "database level" in finding.detail


def test_slow_query_logging_on_managed_service_points_to_the_provider() -> None:
    snap = logging_snap("-1", "default", f.setting("cloudsql.enable_pgaudit", "off"))
    (finding,) = run("slow_query_logging_disabled", snap)
    assert finding.fix is None and "Google Cloud SQL" in finding.detail


def test_slow_query_logging_recommended_value_is_configurable() -> None:
    (finding,) = run("slow_query_logging_disabled", logging_snap("-1"), recommended="1s")
    assert finding.fix is not None and "'1s'" in finding.fix.sql


# -- collector_limitations --


def test_collector_limitations_one_info_per_entry() -> None:
    snap = f.snapshot(
        statements=None,
        limitations=[
            s.Limitation("activity", "role lacks pg_read_all_stats: other sessions' queries "
                         "and states are hidden"),
            s.Limitation("sequences", "2 sequence(s) not readable by this role"),
            NOT_INSTALLED,  # covered by pg_stat_statements_missing
        ],
    )  # fmt: skip
    findings = run("collector_limitations", snap)
    assert [x.object for x in findings] == ["collector: activity", "collector: sequences"]
    activity = findings[0]
    assert activity.severity is Severity.INFO and activity.fix is None
    assert "pg_read_all_stats" in activity.detail
    assert activity.evidence == {
        "area": "activity",
        "reason": "role lacks pg_read_all_stats: other sessions' queries and states are hidden",
        "role": "app",
    }
    assert "GRANT SELECT ON ALL SEQUENCES" in findings[1].detail


def test_collector_limitations_keeps_hidden_statement_text() -> None:
    hidden = s.Limitation(PGSS, "other roles' statement text is hidden (grant pg_read_all_stats)")
    (finding,) = run("collector_limitations", f.snapshot(statements=[], limitations=[hidden]))
    assert finding.object == "collector: pg_stat_statements"


def test_collector_limitations_silent_without_limitations() -> None:
    assert run("collector_limitations", f.snapshot()) == []
