"""Backup checks from hand-built snapshots: each fires on its case and stays quiet otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f

ARCHIVING_ON = [
    f.setting("archive_mode", "on"),
    f.setting("archive_command", "pgbackrest --stanza=main archive-push %p"),
    f.setting("archive_timeout", "60", unit="s"),
]


def archiver(**kw: Any) -> s.Archiver:
    base: dict[str, Any] = dict(
        archived_count=100, last_archived_time="2026-01-31T11:59:00+00:00", failed_count=0,
        last_failed_time=None, stats_reset=None,
    )  # fmt: skip
    return s.Archiver(**{**base, **kw})


def backups(**kw: Any) -> s.BackupState:
    base: dict[str, Any] = dict(
        directory="/backups", dumps=3, latest_dump="app-20260131T030000Z.dump",
        latest_dump_at="2026-01-31T03:00:00+00:00", drills=1,
        latest_drill_at="2026-01-31T03:05:00+00:00", latest_drill_ok=True,
        latest_good_drill_at="2026-01-31T03:05:00+00:00",
    )  # fmt: skip
    return s.BackupState(**{**base, **kw})


def findings(check_id: str, **kw: Any) -> list[Finding]:
    return run_checks(f.snapshot(**kw), only=[check_id], strict=True).findings


# -- wal_archiving_failing --


def test_archiving_failing_since_last_success() -> None:
    arch = archiver(failed_count=7, last_failed_time="2026-01-31T11:59:30+00:00",
                    last_archived_time="2026-01-31T10:00:00+00:00")  # fmt: skip
    [finding] = findings("wal_archiving_failing", settings=ARCHIVING_ON, archiver=arch)
    assert finding.severity is Severity.HIGH and "failed 7 times" in finding.detail


def test_archiving_stalled_far_beyond_archive_timeout() -> None:
    arch = archiver(last_archived_time="2026-01-31T09:00:00+00:00")
    [finding] = findings("wal_archiving_failing", settings=ARCHIVING_ON, archiver=arch)
    assert finding.severity is Severity.MEDIUM and "for 3.0 h" in finding.detail


@pytest.mark.parametrize(
    "arch",
    [
        archiver(),  # healthy
        archiver(failed_count=2, last_failed_time="2026-01-31T11:00:00+00:00"),  # recovered
        archiver(archived_count=0, last_archived_time=None),  # nothing to archive yet
    ],
)
def test_archiving_healthy_is_quiet(arch: s.Archiver) -> None:
    assert findings("wal_archiving_failing", settings=ARCHIVING_ON, archiver=arch) == []


def test_archiving_off_is_left_to_wal_archiving_disabled() -> None:
    arch = archiver(failed_count=3, last_failed_time="2026-01-31T11:59:30+00:00")
    assert findings("wal_archiving_failing", settings=[f.setting("archive_mode", "off")],
                    archiver=arch) == []  # fmt: skip


# -- pitr_unavailable --


def test_pitr_unavailable_without_archive_or_replica() -> None:
    [finding] = findings("pitr_unavailable", settings=[f.setting("archive_mode", "off")],
                         backups=backups())  # fmt: skip
    assert "app-20260131T030000Z.dump" in finding.detail and "9.0 h" in finding.detail


def test_pitr_unavailable_when_the_archive_stopped_before_the_dump() -> None:
    arch = archiver(last_archived_time="2026-01-30T00:00:00+00:00")
    assert findings("pitr_unavailable", settings=ARCHIVING_ON, archiver=arch, backups=backups())


def test_pitr_with_a_recent_archive_or_a_streaming_replica_is_quiet() -> None:
    assert findings("pitr_unavailable", settings=ARCHIVING_ON, archiver=archiver(),
                    backups=backups()) == []  # fmt: skip
    replica = f.activity(7, backend_type="walsender", state="streaming", application_name="s1")
    assert findings("pitr_unavailable", settings=[f.setting("archive_mode", "off")],
                    activity=[replica], backups=backups()) == []  # fmt: skip


def test_pitr_needs_the_backup_directory() -> None:
    assert findings("pitr_unavailable", settings=[f.setting("archive_mode", "off")]) == []


# -- backup_never_verified --


@pytest.mark.parametrize(
    ("state", "severity", "words"),
    [
        (backups(drills=0, latest_drill_at=None, latest_drill_ok=None, latest_good_drill_at=None),
         Severity.HIGH, "none ever restored"),
        (backups(latest_drill_ok=False, latest_good_drill_at=None), Severity.HIGH, "none passed"),
        (backups(dumps=0, drills=0, latest_dump=None, latest_dump_at=None, latest_drill_at=None,
                 latest_drill_ok=None, latest_good_drill_at=None),
         Severity.CRITICAL, "no prodready backups"),
    ],
)  # fmt: skip
def test_backup_never_verified(state: s.BackupState, severity: Severity, words: str) -> None:
    [finding] = findings("backup_never_verified", backups=state)
    assert finding.severity is severity and words in finding.detail
    assert finding.object == "backups /backups"


def test_verified_backups_and_no_directory_are_quiet() -> None:
    assert findings("backup_never_verified", backups=backups()) == []
    assert findings("backup_never_verified") == []


# -- backup_stale --


def test_backup_stale_dump_and_drill() -> None:
    old = backups(latest_dump_at="2026-01-29T00:00:00+00:00",
                  latest_good_drill_at="2026-01-10T00:00:00+00:00")  # fmt: skip
    found = {x.object: x for x in findings("backup_stale", backups=old)}
    assert found["backups /backups"].severity is Severity.HIGH
    assert found["backups /backups (drill)"].severity is Severity.MEDIUM


def test_recent_backups_are_not_stale() -> None:
    assert findings("backup_stale", backups=backups()) == []
    assert findings("backup_stale") == []


def test_snapshot_with_backups_round_trips_and_old_json_loads() -> None:
    snap = f.snapshot(backups=backups())
    assert s.Snapshot.from_json(snap.to_json()).backups == backups()
    plain = f.snapshot().to_json()
    del plain["backups"]
    assert s.Snapshot.from_json(plain).backups is None
