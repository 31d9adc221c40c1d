"""pg_restore as a drill and a restore use it: exit on the first error, parallel jobs."""

from __future__ import annotations

from pathlib import Path

from prodready.backup.binaries import ClientTools
from prodready.backup.run import run_tool


def run_pg_restore(
    tools: ClientTools, dump: Path, dsn: str, *, jobs: int, clean: bool, owners: bool
) -> None:
    """Restore `dump` into `dsn`; `clean` drops existing objects first (a real restore)."""
    command = [tools.pg_restore, "--exit-on-error", f"--jobs={jobs}"]
    if clean:
        command += ["--clean", "--if-exists"]
        if jobs == 1:
            command.append("--single-transaction")  # a failed restore leaves the old data
    if not owners:
        # a scratch server rarely has the app's roles; ownership is not what a drill proves
        command += ["--no-owner", "--no-acl"]
    run_tool([*command, str(dump)], dsn, "pg_restore")
