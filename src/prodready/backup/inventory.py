"""What a backup directory holds, for the audit: newest dump, newest drill and its outcome."""

from __future__ import annotations

from pathlib import Path

from prodready.backup.model import DRILL_SUFFIX, DrillRecord, read_json
from prodready.backup.retention import list_backups
from prodready.db.snapshot import BackupState
from prodready.errors import UsageError


def backup_state(directory: Path) -> BackupState:
    """Read manifests and drill records in `directory` (unreadable ones are skipped)."""
    if not directory.is_dir():
        raise UsageError(f"--backups {directory}: not a directory")
    dumps = list_backups(directory)
    drills = []
    for path in directory.glob(f"*{DRILL_SUFFIX}"):
        try:
            drills.append(DrillRecord.from_json(read_json(path, "drill record"), str(path)))
        except UsageError:
            continue
    drills.sort(key=lambda d: d.finished_at, reverse=True)
    good = [d for d in drills if d.ok]
    return BackupState(
        directory=str(directory),
        dumps=len(dumps),
        latest_dump=dumps[0][0].name if dumps else None,
        latest_dump_at=dumps[0][1].finished_at if dumps else None,
        drills=len(drills),
        latest_drill_at=drills[0].finished_at if drills else None,
        latest_drill_ok=drills[0].ok if drills else None,
        latest_good_drill_at=good[0].finished_at if good else None,
    )
