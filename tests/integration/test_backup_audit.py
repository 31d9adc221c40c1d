"""`audit --backups DIR` reads dumps and drill records: never verified until a drill passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from prodready.backup import take_backup, verify_dump
from prodready.pipeline import audit
from tests.conftest import TestDatabase

BACKUP_CHECKS = ("backup_never_verified", "backup_stale", "pitr_unavailable")


def backup_findings(db: TestDatabase, directory: Path) -> dict[str, str]:
    _, report = audit(dsn=db.dsn, advise=False, backups_dir=directory)
    return {f.check: f.detail for f in report.findings if f.check in BACKUP_CHECKS}


def test_drill_clears_backup_never_verified(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)")
    assert "no prodready backups" in backup_findings(db, tmp_path)["backup_never_verified"]
    dump = take_backup(db.dsn, tmp_path).dump
    before = backup_findings(db, tmp_path)
    assert "none ever restored" in before["backup_never_verified"]
    assert dump.name in before["pitr_unavailable"]  # the test cluster does not archive WAL
    assert verify_dump(dump, db.cluster.dsn()).ok
    assert "backup_never_verified" not in backup_findings(db, tmp_path)


def test_cli_audit_takes_backups_dir(db: TestDatabase, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prodready", "audit", "--db", db.dsn, "--no-advise",
         "--backups", str(tmp_path), "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    checks = {f["check"] for f in json.loads(result.stdout)["findings"]}
    assert "backup_never_verified" in checks
