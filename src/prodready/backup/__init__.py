"""Backups you have restored: dump + manifest, retention, restore drills, schedules."""

from prodready.backup.drill import verify_dump
from prodready.backup.dump import take_backup
from prodready.backup.model import DrillRecord, Manifest
from prodready.backup.restore import restore_dump

__all__ = ["DrillRecord", "Manifest", "restore_dump", "take_backup", "verify_dump"]
