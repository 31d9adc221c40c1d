"""`prodready restore`: a pre-restore backup first, then the restore, then the drill's checks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prodready.backup.binaries import find_client_tools
from prodready.backup.compare import compare_restored
from prodready.backup.dump import BackupResult, take_backup
from prodready.backup.files import checksum_problems
from prodready.backup.model import DrillStep, load_manifest
from prodready.backup.restore_run import run_pg_restore
from prodready.errors import UsageError
from prodready.pg.connection import SessionLimits, connect


@dataclass(frozen=True)
class RestoreResult:
    pre_restore: BackupResult
    restore_s: float
    steps: list[DrillStep]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def restore_dump(
    dump: Path, dsn: str, *, pre_backup_dir: Path | None = None, jobs: int = 1
) -> RestoreResult:
    """Restore `dump` over the database at `dsn` (objects in the dump are replaced)."""
    manifest = load_manifest(dump)
    problems = checksum_problems(dump, manifest.files)
    if problems:
        raise UsageError(f"{dump} does not match its manifest ({problems[0]}); nothing restored")
    # the safety net first: if the restore is a mistake, this dump undoes it
    pre = take_backup(dsn, pre_backup_dir or dump.parent)
    tools = find_client_tools(max(pre.manifest.server_version_num, manifest.server_version_num))
    clock = time.monotonic()
    run_pg_restore(tools, dump, dsn, jobs=jobs, clean=True, owners=True)
    elapsed = time.monotonic() - clock
    steps = [DrillStep("restore", True, f"pg_restore --clean in {elapsed:.1f} s")]
    with connect(dsn, read_only=True, limits=SessionLimits(statement_timeout_ms=0)) as conn:
        steps += compare_restored(conn, manifest)
    return RestoreResult(pre, elapsed, steps)
