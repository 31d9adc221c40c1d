"""Observability checks: can the team see slow queries, and what could prodready not see."""

from __future__ import annotations

from collections.abc import Iterator

from psycopg import sql

from prodready.db.checks.reliability import alter_system_fix, database_object
from prodready.db.checks.shared import managed_service
from prodready.db.snapshot import PGSS_ACCESS, Snapshot
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqlgen import render

PGSS = "pg_stat_statements"


# -- pg_stat_statements_missing --


@check(
    "pg_stat_statements_missing",
    title="pg_stat_statements is not available",
    category=Category.OBSERVABILITY,
    severity=Severity.MEDIUM,
)
def pg_stat_statements_missing(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """pg_stat_statements records every query's calls and time: without it nobody can say
    which queries are slow, and prodready cannot recommend indexes from the real workload.

    Add it to shared_preload_libraries (needs a restart), then run
    `CREATE EXTENSION pg_stat_statements` in the application's database.
    """
    if snap.statements is not None or snap.limited(PGSS_ACCESS):
        return  # installed but out of this role's reach: collector_limitations says so
    limitation = snap.limited(PGSS)
    reason = limitation.reason if limitation else "statistics were not collected"
    installed = PGSS in snap.extension_map
    preloaded = preloads(snap, PGSS)
    evidence = {
        "reason": reason,
        "extension_installed": installed,
        "preloaded": preloaded,
        "shared_preload_libraries": snap.setting("shared_preload_libraries"),
    }
    fix = None
    if not installed and preloaded and not snap.server.in_recovery:
        fix = Fix(
            sql=render(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(PGSS))),
            rollback_sql=render(sql.SQL("DROP EXTENSION {}").format(sql.Identifier(PGSS))),
        )
    yield Issue(
        object=database_object(snap.database.name),
        detail=f"pg_stat_statements is not usable here ({reason}). "
        + _pgss_advice(installed, preloaded, reason),
        evidence=evidence,
        fix=fix,
        verify="SELECT count(*) FROM pg_stat_statements; it returns without error",
    )


def preloads(snap: Snapshot, library: str) -> bool | None:
    """Whether shared_preload_libraries names `library`; None when the role cannot see it."""
    value = snap.setting("shared_preload_libraries")
    if value is None:
        return None
    names = {part.strip().strip('"').lower() for part in value.split(",")}
    return library in names


def _pgss_advice(installed: bool, preloaded: bool | None, reason: str) -> str:
    if not installed and preloaded:
        return "The library is preloaded: creating the extension is enough."
    steps = "add pg_stat_statements to shared_preload_libraries and restart the server"
    if not installed:
        steps += ", then run CREATE EXTENSION pg_stat_statements"
    if preloaded is None and "shared_preload_libraries" not in reason:
        return f"This role cannot see shared_preload_libraries; if it lacks the library, {steps}."
    return steps[0].upper() + steps[1:] + "."


# -- slow_query_logging_disabled --


@check(
    "slow_query_logging_disabled",
    title="Slow queries are not logged",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
    options={"recommended": "500ms", "noisy_below_ms": 10.0},
)
def slow_query_logging_disabled(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """With log_min_duration_statement = -1 a slow query leaves no trace in the log, so an
    incident cannot be traced back to the statement; a threshold of 0 logs every statement,
    which floods the log and costs I/O on a busy server.

    Set a threshold such as 500ms: `ALTER SYSTEM SET log_min_duration_statement = '500ms'`
    and `SELECT pg_reload_conf()`.
    """
    found = snap.setting_map.get("log_min_duration_statement")
    threshold = snap.setting_ms("log_min_duration_statement")
    if found is None or threshold is None:
        return
    if threshold < 0:
        if _logs_slow_queries_elsewhere(snap):
            return
        severity = Severity.LOW
        detail = (
            "log_min_duration_statement is -1 and auto_explain has no threshold: slow queries "
            "are not written to the log."
        )
    elif threshold == 0:
        severity = Severity.MEDIUM
        detail = (
            "log_min_duration_statement is 0: every statement is logged, which floods the log "
            "and adds I/O to each query on a busy server."
        )
    elif threshold < opts["noisy_below_ms"]:
        severity = Severity.LOW
        detail = (
            f"log_min_duration_statement is {threshold:g} ms: so low a threshold logs most of "
            "the workload rather than the slow outliers."
        )
    else:
        return
    yield Issue(
        object="log_min_duration_statement",
        detail=detail + _apply_note(snap, found.source),
        evidence={
            "log_min_duration_statement_ms": threshold,
            "source": found.source,
            "auto_explain_log_min_duration": snap.setting("auto_explain.log_min_duration"),
            "log_min_duration_sample": snap.setting("log_min_duration_sample"),
            "log_statement_sample_rate": snap.setting("log_statement_sample_rate"),
        },
        fix=_logging_fix(snap, found.source, str(opts["recommended"])),
        severity=severity,
        verify="SHOW log_min_duration_statement",
    )


def _logs_slow_queries_elsewhere(snap: Snapshot) -> bool:
    """auto_explain with a threshold, or sampled duration logging, already logs slow queries."""
    auto_explain = snap.setting_ms("auto_explain.log_min_duration")
    if auto_explain is not None and auto_explain >= 0:
        return True
    sample = snap.setting_ms("log_min_duration_sample")
    rate = snap.setting("log_statement_sample_rate")
    try:
        sampled = rate is not None and float(rate) > 0
    except ValueError:
        sampled = False
    return sample is not None and sample >= 0 and sampled


# A value set for the database or a role beats ALTER SYSTEM, so the fix would not take effect.
_SCOPED_SOURCES = frozenset({"database", "user", "database user", "client", "session"})


def _apply_note(snap: Snapshot, source: str) -> str:
    provider = managed_service(snap)
    if provider is not None:
        return f" On {provider} change it in the provider's parameter settings."
    if source in _SCOPED_SOURCES:
        return f" The value is set at the {source} level, which ALTER SYSTEM does not override."
    return ""


def _logging_fix(snap: Snapshot, source: str, value: str) -> Fix | None:
    if managed_service(snap) is not None or source in _SCOPED_SOURCES:
        return None
    return alter_system_fix("log_min_duration_statement", value)


# -- collector_limitations --

_GRANTS = {
    "activity": "GRANT pg_read_all_stats (or pg_monitor) to the audit role",
    "settings": "GRANT pg_read_all_settings (or pg_monitor) to the audit role",
    "pg_stat_statements": "GRANT pg_read_all_stats (or pg_monitor) to the audit role",
    "sequences": (
        "GRANT SELECT ON ALL SEQUENCES IN SCHEMA ... (or pg_read_all_data) to the audit role"
    ),
    "sizes": "re-run the audit when no DDL is holding locks",
    "locks": "re-run the audit when no DDL is holding locks",
    PGSS_ACCESS: "run the GRANT above",
    "index_advisor": "fix what the reason names, or run `prodready advise` to see the error",
    "column_statistics": (
        "GRANT SELECT on those tables (or pg_read_all_data) to the audit role, or accept "
        "that table bloat is not estimated"
    ),
}


@check(
    "collector_limitations",
    title="Parts of the database could not be inspected",
    category=Category.OBSERVABILITY,
    severity=Severity.INFO,
)
def collector_limitations(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """The audit only judges what its role can see; hidden sessions, settings or sequences
    mean some checks could not run, and their silence is not a clean bill of health.

    Run prodready as a role with pg_monitor (pg_read_all_stats + pg_read_all_settings).
    """
    for lim in snap.limitations:
        if lim.area == PGSS and snap.statements is None:
            continue  # pg_stat_statements_missing reports it with a fix
        how = _GRANTS.get(lim.area, "run the audit as a role with pg_monitor")
        yield Issue(
            object=f"collector: {lim.area}",
            detail=f"The audit could not see everything in {lim.area}: {lim.reason}. To see it, "
            f"{how}.",
            evidence={"area": lim.area, "reason": lim.reason, "role": snap.server.current_user},
        )
