"""/metrics: the latest sample in postgres_exporter's names, plus prodready's own.

postgres_exporter exposes pg_stat_database_* counters without a `_total` suffix; the
client library adds one to counters, so counters are exposed untyped to keep the names
existing Grafana dashboards and alert rules query.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from prodready.serve.model import Sample
from prodready.serve.state import History, connections_by_state, statement_deltas

DATABASE_COUNTERS = (
    "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
    "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes",
    "deadlocks",
)  # fmt: skip
SEVERITIES = ("critical", "high", "medium", "low", "info")


class DashboardCollector(Collector):
    """Reads the History at scrape time; never touches the database itself."""

    def __init__(self, history: History) -> None:
        self.history = history

    def collect(self) -> Iterator[Metric]:
        latest = self.history.latest()
        up = GaugeMetricFamily("pg_up", "Whether the last query of the database succeeded.")
        up.add_metric([], 1.0 if latest and latest.up else 0.0)
        yield up
        yield from self._readiness()
        if latest is None or not latest.up:
            return
        yield from self._database(latest)
        yield from self._activity(latest)
        yield from self._replication(latest)
        yield from self._statements()

    def _database(self, sample: Sample) -> Iterator[Metric]:
        labels = ["datid", "datname"]
        backends = GaugeMetricFamily(
            "pg_stat_database_numbackends", "Backends connected to this database.", labels=labels
        )
        counters = {
            name: UnknownMetricFamily(
                f"pg_stat_database_{name}", f"pg_stat_database.{name}", labels=labels
            )
            for name in DATABASE_COUNTERS
        }
        xid = GaugeMetricFamily(
            "prodready_database_frozen_xid_age", "age(datfrozenxid): xids since the oldest "
            "unfrozen one (wraparound at 2^31).", labels=["datname"],
        )  # fmt: skip
        for db in sample.databases:
            key = [str(db.datid), db.datname]
            backends.add_metric(key, db.numbackends)
            for name, family in counters.items():
                family.add_metric(key, float(getattr(db, name)))
            xid.add_metric([db.datname], db.frozen_xid_age)
        yield backends
        yield from counters.values()
        yield xid
        settings = GaugeMetricFamily("pg_settings_max_connections", "max_connections setting.")
        settings.add_metric([], sample.max_connections)
        yield settings
        slow = self.history.slow
        if slow is not None:
            size = GaugeMetricFamily(
                "pg_database_size_bytes", "Disk space used by the database.", labels=["datname"]
            )
            size.add_metric([sample.database], slow.database_bytes)
            yield size

    def _activity(self, sample: Sample) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "pg_stat_activity_count", "Client sessions by database and state.",
            labels=["datname", "state"],
        )  # fmt: skip
        longest = GaugeMetricFamily(
            "pg_stat_activity_max_tx_duration", "Longest open transaction, seconds.",
            labels=["datname", "state"],
        )  # fmt: skip
        for row in sample.activity:
            count.add_metric([row.datname, row.state], row.count)
            longest.add_metric([row.datname, row.state], row.max_tx_duration_s)
        yield count
        yield longest
        total = GaugeMetricFamily(
            "prodready_connections_used_ratio", "Client sessions / max_connections."
        )
        used = sum(connections_by_state(sample).values())
        total.add_metric([], used / sample.max_connections if sample.max_connections else 0.0)
        yield total
        locks = GaugeMetricFamily("prodready_lock_waiting_sessions", "Sessions waiting on a lock.")
        locks.add_metric([], len(sample.locks))
        yield locks
        idle = GaugeMetricFamily(
            "prodready_idle_in_transaction_max_seconds",
            "Longest idle-in-transaction session (0 when none).",
        )
        ages = [s.xact_age_s or 0.0 for s in sample.sessions if s.state.startswith("idle in")]
        idle.add_metric([], max(ages, default=0.0))
        yield idle

    def _replication(self, sample: Sample) -> Iterator[Metric]:
        labels = ["application_name", "client_addr", "state"]
        lsn = GaugeMetricFamily(
            "pg_stat_replication_pg_wal_lsn_diff",
            "Replay lag of each standby, bytes.",
            labels=labels,
        )
        for r in sample.replicas:
            lsn.add_metric([r.application_name, r.client_addr, r.state], r.lag_bytes)
        yield lsn
        lag = GaugeMetricFamily(
            "pg_replication_lag_seconds",
            "Seconds behind the primary (standby) or the worst standby.",
        )
        worst = max([r.lag_s for r in sample.replicas], default=0.0)
        lag.add_metric([], sample.standby_lag_s if sample.standby_lag_s is not None else worst)
        yield lag
        if sample.archiver is not None:
            arch = sample.archiver
            for name, value in (
                ("pg_stat_archiver_archived_count", arch.archived_count),
                ("pg_stat_archiver_failed_count", arch.failed_count),
            ):
                family = UnknownMetricFamily(name, name.replace("pg_stat_archiver_", "archiver "))
                family.add_metric([], float(value))
                yield family
            if arch.last_archive_age_s is not None:
                age = GaugeMetricFamily(
                    "pg_stat_archiver_last_archive_age", "Seconds since the last archived WAL."
                )
                age.add_metric([], arch.last_archive_age_s)
                yield age
            failing = GaugeMetricFamily(
                "prodready_wal_archiving_failing",
                "1 when the archiver failed since its last success.",
            )
            failing.add_metric([], 1.0 if arch.failing else 0.0)
            yield failing

    def _statements(self) -> Iterator[Metric]:
        prev, cur = self.history.last_up_pair()
        if cur is None or cur.statements is None:
            return
        p95 = GaugeMetricFamily(
            "prodready_statement_p95_seconds",
            "Approximate p95 (mean + 1.645 sigma) of the busiest statements this refresh.",
            labels=["queryid"],
        )
        for d in statement_deltas(prev.statements if prev else None, cur.statements):
            p95.add_metric([d.queryid], d.p95_ms / 1000)
        yield p95

    def _readiness(self) -> Iterator[Metric]:
        readiness = self.history.readiness
        if readiness is not None and readiness.error is None:
            score = GaugeMetricFamily("prodready_readiness_score", "Readiness score 0-10.")
            score.add_metric([], readiness.score)
            yield score
            findings = GaugeMetricFamily(
                "prodready_findings",
                "Findings of the latest audit by severity.",
                labels=["severity"],
            )
            for severity in SEVERITIES:
                findings.add_metric([severity], readiness.by_severity.get(severity, 0))
            yield findings
        drill = self.history.drill
        if drill is not None:
            from datetime import datetime

            age = GaugeMetricFamily(
                "prodready_backup_drill_age_seconds", "Seconds since the newest restore drill."
            )
            age.add_metric([], time.time() - datetime.fromisoformat(drill.finished_at).timestamp())
            yield age
            ok = GaugeMetricFamily("prodready_backup_drill_ok", "1 when the newest drill passed.")
            ok.add_metric([], 1.0 if drill.ok else 0.0)
            yield ok


def render_metrics(history: History) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector(history))
    return generate_latest(registry)
