"""Alert rules matching the dashboard's thresholds, as a Prometheus rule file or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from prodready.serve.thresholds import DEFAULT, XID_WRAP, Thresholds

FORMATS = ("prometheus", "json")


@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    duration: str
    severity: str
    summary: str

    def to_prometheus(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {"summary": self.summary},
        }


def rules(t: Thresholds = DEFAULT) -> list[Rule]:
    """One rule per dashboard threshold; metric names are those /metrics exposes."""
    xid_limit = int(XID_WRAP * t.wraparound_percent / 100)
    return [
        Rule("PostgresDown", "pg_up == 0", "1m", "critical",
             "PostgreSQL is unreachable from prodready serve"),
        Rule("PostgresStatementP95High",
             f"max(prodready_statement_p95_seconds) > {t.statement_p95_ms / 1000:g}", "5m",
             "warning", f"A busy statement's p95 is above {t.statement_p95_ms:g} ms"),
        Rule("PostgresConnectionsHigh",
             f"sum(pg_stat_activity_count) / max(pg_settings_max_connections) > "
             f"{t.connections_percent / 100:g}", "5m", "warning",
             f"More than {t.connections_percent:g}% of max_connections in use"),
        Rule("PostgresIdleInTransaction",
             f"prodready_idle_in_transaction_max_seconds > {t.idle_in_transaction_s:g}", "2m",
             "warning", f"A session has been idle in transaction for over "
             f"{t.idle_in_transaction_s:g} s (holds locks, blocks vacuum)"),
        Rule("PostgresReplicationLag",
             f"pg_replication_lag_seconds > {t.replication_lag_s:g}", "5m", "warning",
             f"Replication is more than {t.replication_lag_s:g} s behind"),
        Rule("PostgresWraparoundApproaching",
             f"max(prodready_database_frozen_xid_age) > {xid_limit}", "15m", "critical",
             f"A database is {t.wraparound_percent:g}% of the way to transaction ID wraparound"),
        Rule("PostgresWalArchivingFailing", "prodready_wal_archiving_failing == 1", "10m",
             "critical", "WAL archiving is failing: pg_wal grows and PITR stops"),
        Rule("PostgresBackupDrillTooOld",
             f"prodready_backup_drill_age_seconds > {t.drill_max_age_days * 86400:g} "
             "or prodready_backup_drill_ok == 0", "1h", "warning",
             f"No passing restore drill in {t.drill_max_age_days:g} days"),
        Rule("PostgresReadinessScoreDropped",
             f"prodready_readiness_score < max_over_time(prodready_readiness_score[1d]) - "
             f"{t.readiness_drop:g}", "30m", "warning",
             f"The readiness score dropped by more than {t.readiness_drop:g} in a day"),
    ]  # fmt: skip


def render_rules(fmt: str, t: Thresholds = DEFAULT) -> str:
    if fmt == "json":
        return json.dumps([r.to_prometheus() for r in rules(t)], indent=2) + "\n"
    document = {"groups": [{"name": "prodready", "rules": [r.to_prometheus() for r in rules(t)]}]}
    return yaml.safe_dump(document, sort_keys=False, width=200)
