"""The audit as one story: collect → checks → plan. Rendering is the caller's choice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prodready.config import Config
from prodready.db.collect import collect
from prodready.db.snapshot import Snapshot
from prodready.pg.connection import SessionLimits
from prodready.registry import run_checks
from prodready.report.plan import Report, build_report


def audit(
    *,
    dsn: str | None = None,
    snapshot_file: Path | None = None,
    snapshot: Snapshot | None = None,
    config: Config | None = None,
    limits: SessionLimits | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Snapshot, Report]:
    """Audit a live database, a saved snapshot file, or a snapshot in hand."""
    if snapshot is None:
        if snapshot_file is not None:
            snapshot = Snapshot.load(snapshot_file)
        elif dsn is not None:
            snapshot = collect(dsn, limits=limits, progress=progress)
        else:
            raise ValueError("audit needs a dsn, a snapshot file or a snapshot")
    run = run_checks(snapshot, config)
    return snapshot, build_report(snapshot, run)
