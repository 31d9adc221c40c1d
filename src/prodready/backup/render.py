"""Plain-text summaries of backups, drills and restores (the CLI prints these)."""

from __future__ import annotations

from prodready.backup.dump import BackupResult
from prodready.backup.model import DrillRecord, DrillStep
from prodready.units import human_bytes


def backup_summary(result: BackupResult) -> str:
    m = result.manifest
    estimated = sum(t.estimated for t in m.tables)
    lines = [
        f"wrote {result.dump} ({human_bytes(m.total_bytes)}, {m.format} format, "
        f"{m.duration_s:.1f} s, pg_dump {m.pg_dump_version}, server {m.server_version})",
        f"  manifest: {len(m.files)} file(s) sha256, {len(m.tables)} tables"
        + (f" ({estimated} estimated)" if estimated else "")
        + f", schema {m.schema_fingerprint[:12]}",
    ]
    lines += [f"  retention deleted {path.name}" for path in result.deleted]
    return "\n".join(lines)


def steps_text(steps: list[DrillStep]) -> str:
    return "\n".join(f"  {'ok  ' if s.ok else 'FAIL'} {s.name}: {s.detail}" for s in steps)


def drill_summary(record: DrillRecord) -> str:
    verdict = "passed" if record.ok else "FAILED"
    return (
        f"restore drill {verdict} for {record.dump}\n{steps_text(record.steps)}\n"
        f"  RTO (restore time) {record.rto_s:.1f} s; RPO (dump age) {_age(record.rpo_s)}; "
        f"scratch {record.scratch}"
    )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
