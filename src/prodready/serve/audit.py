"""The readiness score on the monitoring session, and the newest drill from --backups."""

from __future__ import annotations

import time
from pathlib import Path

from prodready.backup.model import DRILL_SUFFIX, DrillRecord, read_json
from prodready.errors import ProdreadyError
from prodready.serve.collect import Monitor
from prodready.serve.state import Drill, Readiness

TOP_FINDINGS = 5


def audit_on(monitor: Monitor, backups: Path | None) -> Readiness:
    """Collect a snapshot over the monitor's own connection (never a second one), score it."""
    import psycopg

    from prodready.db.collect import collect_from
    from prodready.pipeline import audit

    try:
        conn = monitor.ensure_connected()
        snapshot = collect_from(conn)
        _, report = audit(snapshot=snapshot, advise=False, backups_dir=backups)
    except (ProdreadyError, psycopg.Error) as exc:
        return Readiness(0.0, {}, [], time.time(), error=str(exc).splitlines()[0])
    finally:
        monitor.reapply_limits()
    by_severity: dict[str, int] = {}
    for finding in report.findings:
        by_severity[finding.severity.label] = by_severity.get(finding.severity.label, 0) + 1
    top = [
        {"severity": f.severity.label, "title": f.title, "object": f.object}
        for f in sorted(report.findings, key=lambda f: -f.severity)[:TOP_FINDINGS]
    ]
    return Readiness(report.score.overall, by_severity, top, time.time())


def newest_drill(backups: Path | None) -> Drill | None:
    """The newest drill record in the backup directory, if any."""
    if backups is None or not backups.is_dir():
        return None
    records = []
    for path in backups.glob(f"*{DRILL_SUFFIX}"):
        try:
            records.append(DrillRecord.from_json(read_json(path, "drill record"), str(path)))
        except ProdreadyError:
            continue
    if not records:
        return None
    r = max(records, key=lambda rec: rec.finished_at)
    return Drill(r.dump, r.ok, r.finished_at, 0.0, r.rto_s, r.rpo_s)
