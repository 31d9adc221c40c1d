"""Retention: which backups to delete. Pure selection, then a careful removal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from prodready.backup.files import remove_dump
from prodready.backup.model import (
    MANIFEST_SUFFIX,
    Manifest,
    drill_path,
    load_manifest,
    manifest_path,
)
from prodready.errors import UsageError


@dataclass(frozen=True)
class Kept:
    """A backup in the target directory: its dump path and when it finished."""

    dump: Path
    finished_at: datetime


def list_backups(directory: Path, database: str | None = None) -> list[tuple[Path, Manifest]]:
    """Backups with a readable manifest, newest first; others are not ours to judge."""
    found = []
    for manifest_file in directory.glob(f"*{MANIFEST_SUFFIX}"):
        dump = manifest_file.with_name(manifest_file.name[: -len(MANIFEST_SUFFIX)])
        try:
            manifest = load_manifest(dump)
        except UsageError:
            continue
        if database is None or manifest.source.database == database:
            found.append((dump, manifest))
    found.sort(key=lambda item: item[1].finished_at, reverse=True)
    return found


def select_expired(
    backups: list[Kept], now: datetime, keep_last: int | None, keep_days: float | None
) -> list[Path]:
    """Backups no rule keeps. A backup is kept when it is among the newest `keep_last` OR
    younger than `keep_days`; the newest is always kept, whatever the rules say.
    """
    if keep_last is None and keep_days is None:
        return []
    ordered = sorted(backups, key=lambda b: b.finished_at, reverse=True)
    expired = []
    for position, backup in enumerate(ordered):
        if position == 0:
            continue
        by_count = keep_last is not None and position < keep_last
        by_age = keep_days is not None and now - backup.finished_at <= timedelta(days=keep_days)
        if not (by_count or by_age):
            expired.append(backup.dump)
    return expired


def apply_retention(
    directory: Path,
    database: str,
    newest_good: Path,
    now: datetime,
    keep_last: int | None,
    keep_days: float | None,
) -> list[Path]:
    """Delete expired backups of `database`; `newest_good` (just verified) is never one."""
    backups = [
        Kept(dump, datetime.fromisoformat(m.finished_at))
        for dump, m in list_backups(directory, database)
    ]
    deleted = []
    for dump in select_expired(backups, now, keep_last, keep_days):
        if dump == newest_good:
            continue
        remove_dump(dump)
        drill_path(dump).unlink(missing_ok=True)
        manifest_path(dump).unlink(missing_ok=True)  # last: a dump without one is never judged
        deleted.append(dump)
    return deleted
