"""Backup checks: WAL archiving that fails, recovery points, and restore drills (--backups)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prodready.db.snapshot import Snapshot
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check

ARCHIVER = "pg_stat_archiver"


def _hours(snap: Snapshot, timestamp: str | None) -> float | None:
    age = snap.age_seconds(timestamp)
    return None if age is None else round(age / 3600, 1)


def _archiving_configured(snap: Snapshot) -> bool:
    """archive_mode on with a command or library; the no-op case is wal_archiving_disabled's."""
    mode = (snap.setting("archive_mode") or "off").lower()
    command = (snap.setting("archive_command") or "").strip()
    library = (snap.setting("archive_library") or "").strip()
    return mode in ("on", "always") and (bool(library) or command not in ("", "(disabled)"))


# -- wal_archiving_failing --


@check(
    "wal_archiving_failing",
    title="WAL archiving is failing or stalled",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    options={"stalled_hours": 24.0, "archive_timeout_factor": 3.0},
)
def wal_archiving_failing(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Archiving is configured but pg_stat_archiver shows it failing since its last success,
    or nothing archived for far longer than archive_timeout forces a segment switch.

    Every unarchived WAL segment stays in pg_wal: the disk fills, and point-in-time recovery
    ends at the last archived segment. Read the server log for the archive_command's error,
    fix it, and watch `last_archived_time` advance.
    """
    arch = snap.archiver
    if arch is None or snap.server.in_recovery or not _archiving_configured(snap):
        return
    evidence = {
        "archived_count": arch.archived_count,
        "failed_count": arch.failed_count,
        "last_archived_time": arch.last_archived_time,
        "last_failed_time": arch.last_failed_time,
        "last_archived_age_h": _hours(snap, arch.last_archived_time),
        "archive_timeout": snap.setting("archive_timeout"),
        "stats_since": arch.stats_reset,
    }
    verify = "SELECT last_archived_time, last_failed_time FROM pg_stat_archiver; it advances"
    if (
        arch.failed_count
        and arch.last_failed_time
        and (
            arch.last_archived_time is None
            or datetime.fromisoformat(arch.last_failed_time)
            > datetime.fromisoformat(arch.last_archived_time)
        )
    ):
        detail = (
            f"The archiver has failed {arch.failed_count:,} times, last at "
            f"{arch.last_failed_time}, with no success since "
            f"{arch.last_archived_time or 'statistics were reset'}: WAL piles up in pg_wal "
            "and the recovery point stops moving."
        )
        yield Issue(ARCHIVER, detail, evidence, verify=verify)
        return
    stalled = _stalled_hours(snap, opts)
    if stalled is not None:
        detail = (
            f"Nothing has been archived for {stalled} h (last at {arch.last_archived_time}), "
            f"longer than {_stall_limit_h(snap, opts):g} h: if the database takes writes, the "
            "archiver is stuck and point-in-time recovery ends there."
        )
        yield Issue(ARCHIVER, detail, evidence, severity=Severity.MEDIUM, verify=verify)


def _stalled_hours(snap: Snapshot, opts: Options) -> float | None:
    arch = snap.archiver
    if arch is None or arch.archived_count == 0:
        return None  # never archived since reset: nothing to compare with
    age = _hours(snap, arch.last_archived_time)
    return age if age is not None and age > _stall_limit_h(snap, opts) else None


def _stall_limit_h(snap: Snapshot, opts: Options) -> float:
    """Hours without an archived segment that mean "stuck", not "idle".

    archive_timeout forces a segment switch only after writes, so an idle server may go
    quiet for a while: allow a few timeouts, never less than an hour.
    """
    limit = float(opts["stalled_hours"])
    timeout_s = (snap.setting_ms("archive_timeout") or 0) / 1000
    if timeout_s > 0:
        limit = min(limit, max(1.0, timeout_s * float(opts["archive_timeout_factor"]) / 3600))
    return limit


# -- pitr_unavailable --


@check(
    "pitr_unavailable",
    title="No recovery point newer than the last dump",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
)
def pitr_unavailable(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Neither WAL archiving nor a streaming replica gives a recovery point newer than the
    newest dump: losing the server loses every write since that dump.

    Needs `--backups DIR` (the audit must know the last dump). Enable WAL archiving with a
    backup tool (pgBackRest, WAL-G, Barman) or stream to a standby; dump more often until then.
    """
    state = snap.backups
    if state is None or snap.server.in_recovery:
        return
    archived = snap.archiver.last_archived_time if snap.archiver else None
    archive_point = archived if _archiving_configured(snap) else None
    streaming = [
        a.application_name or "walsender"
        for a in snap.activity
        if a.backend_type == "walsender" and a.state == "streaming"
    ]
    if streaming:
        return  # a standby replays WAL continuously: its recovery point is now
    if archive_point and (
        state.latest_dump_at is None
        or datetime.fromisoformat(archive_point) > datetime.fromisoformat(state.latest_dump_at)
    ):
        return
    evidence = {
        "latest_dump": state.latest_dump,
        "latest_dump_at": state.latest_dump_at,
        "latest_dump_age_h": _hours(snap, state.latest_dump_at),
        "archive_mode": snap.setting("archive_mode"),
        "last_archived_time": archived,
        "streaming_replicas": streaming,
    }
    if state.latest_dump_at is None:
        detail = (
            f"No dump in {state.directory}, no working WAL archive and no streaming replica: "
            "there is no recovery point at all."
        )
        yield Issue(f"database {snap.database.name}", detail, evidence, severity=Severity.CRITICAL)
        return
    detail = (
        f"The newest recovery point is the dump {state.latest_dump} from "
        f"{_hours(snap, state.latest_dump_at)} h ago; with no working WAL archive and no "
        "streaming replica, every write since then is lost with the server."
    )
    yield Issue(f"database {snap.database.name}", detail, evidence)


# -- backup_never_verified --


@check(
    "backup_never_verified",
    title="Backups never restored in a drill",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
)
def backup_never_verified(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A backup nobody has restored is a hope, not a backup: dumps fail silently (missing
    roles, extensions, a truncated upload) and restores take longer than anyone guessed.

    Run `prodready backup verify DIR --scratch DSN` (a restore into a scratch database with
    schema, row-count and smoke checks) and schedule it (`prodready backup schedule`).
    """
    state = snap.backups
    if state is None or state.latest_good_drill_at is not None:
        return
    evidence = {
        "directory": state.directory,
        "dumps": state.dumps,
        "drills": state.drills,
        "latest_drill_at": state.latest_drill_at,
        "latest_drill_ok": state.latest_drill_ok,
    }
    obj = f"backups {state.directory}"
    if state.dumps == 0:
        detail = f"{state.directory} holds no prodready backups (no *.manifest.json)."
        yield Issue(obj, detail, evidence, severity=Severity.CRITICAL)
    elif state.drills == 0:
        detail = f"{state.dumps} backup(s) in {state.directory}, none ever restored in a drill."
        yield Issue(obj, detail, evidence)
    else:
        detail = (
            f"{state.drills} restore drill(s) in {state.directory}, none passed; the latest "
            f"({state.latest_drill_at}) failed: read its .drill.json for the failing step."
        )
        yield Issue(obj, detail, evidence)


# -- backup_stale --


@check(
    "backup_stale",
    title="Backup or restore drill too old",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
    options={"max_dump_age_hours": 26.0, "max_drill_age_days": 8.0},
)
def backup_stale(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """The newest dump is older than the backup schedule allows, or the newest passing drill
    is older than the drill schedule: the job has stopped and nobody noticed.

    Check the scheduled job (`prodready backup schedule` prints one) and its log; thresholds
    are `max_dump_age_hours` (26) and `max_drill_age_days` (8).
    """
    state = snap.backups
    if state is None:
        return
    obj = f"backups {state.directory}"
    dump_age = _hours(snap, state.latest_dump_at)
    if dump_age is not None and dump_age > float(opts["max_dump_age_hours"]):
        detail = (
            f"The newest backup, {state.latest_dump}, is {dump_age} h old (limit "
            f"{opts['max_dump_age_hours']:g} h)."
        )
        evidence = {"latest_dump": state.latest_dump, "latest_dump_at": state.latest_dump_at,
                    "age_h": dump_age}  # fmt: skip
        yield Issue(obj, detail, evidence)
    drill_age = _hours(snap, state.latest_good_drill_at)
    limit_h = float(opts["max_drill_age_days"]) * 24
    if drill_age is not None and drill_age > limit_h:
        detail = (
            f"The last passing restore drill was {drill_age / 24:.1f} days ago (limit "
            f"{opts['max_drill_age_days']:g} days)."
        )
        evidence = {"latest_good_drill_at": state.latest_good_drill_at, "age_h": drill_age}
        yield Issue(f"{obj} (drill)", detail, evidence, severity=Severity.MEDIUM)
