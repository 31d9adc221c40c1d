"""Take a backup: pg_dump in the same snapshot as the row counts, a manifest, retention."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from prodready.backup import inspect
from prodready.backup.binaries import ClientTools, find_client_tools
from prodready.backup.files import checksum_entries, checksum_problems, remove_dump
from prodready.backup.model import Manifest, manifest_path, write_json
from prodready.backup.retention import apply_retention
from prodready.backup.run import run_tool
from prodready.errors import TargetError, UsageError
from prodready.pg.connection import SessionLimits, connect

# Custom format is one file; directory format is what lets pg_dump/pg_restore use N jobs.
CUSTOM, DIRECTORY = "custom", "directory"


@dataclass(frozen=True)
class BackupResult:
    dump: Path
    manifest: Manifest
    deleted: list[Path] = field(default_factory=list)


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def take_backup(
    dsn: str,
    directory: Path,
    *,
    jobs: int = 1,
    keep_last: int | None = None,
    keep_days: float | None = None,
    exact_count_limit: int = inspect.EXACT_COUNT_LIMIT,
) -> BackupResult:
    """Dump `dsn` into `directory` with a manifest, then apply retention to older dumps."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    for name, value in (("--keep-last", keep_last), ("--keep-days", keep_days)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1 (the newest backup is always kept)")
    ensure_writable(directory)
    started = utc_now()
    clock = time.monotonic()
    # a long dump must not trip the monitoring-style timeouts; lock_timeout still applies
    limits = SessionLimits(statement_timeout_ms=0, lock_timeout_ms=10_000)
    with connect(dsn, read_only=True, limits=limits) as conn:
        # this session holds the exported snapshot, idle, for as long as pg_dump runs
        conn.execute("SET idle_in_transaction_session_timeout = 0")
        facts = inspect.server_facts(conn)
        tools = find_client_tools(facts.server_version_num)
        fmt = DIRECTORY if jobs > 1 else CUSTOM
        dump = _free_name(directory, facts.identity.database, started, fmt)
        partial = dump.with_name(dump.name + ".partial")
        try:
            with conn.transaction():
                # counts and dump see one snapshot, so a drill can demand exact equality
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                row = conn.execute("SELECT pg_export_snapshot()").fetchone()
                snapshot_id = str(row[0]) if row else ""
                fingerprint, kinds, _ = inspect.schema_fingerprint(conn)
                tables = inspect.table_counts(conn, exact_count_limit)
                _run_pg_dump(tools, dsn, partial, fmt, jobs, snapshot_id)
        except psycopg.OperationalError as exc:
            remove_dump(partial)
            raise TargetError(f"lost the connection during the backup: {_line(exc)}") from None
        except BaseException:
            remove_dump(partial)  # ours, and incomplete: never leave it looking like a dump
            raise
    partial.rename(dump)
    manifest = Manifest(
        dump=dump.name,
        format=fmt,
        started_at=started.isoformat(),
        finished_at=utc_now().isoformat(),
        duration_s=round(time.monotonic() - clock, 3),
        server_version=facts.server_version,
        server_version_num=facts.server_version_num,
        pg_dump_version=tools.version,
        source=facts.identity,
        schema_fingerprint=fingerprint,
        schema_objects=kinds,
        files=checksum_entries(dump),
        tables=tables,
    )
    try:
        _verify_written(dump, manifest, tools)
    except UsageError:
        remove_dump(dump)  # unverified and unlisted: not a backup anyone may rely on
        raise
    write_json(manifest_path(dump), manifest.to_json())
    deleted = apply_retention(
        directory, facts.identity.database, dump, utc_now(), keep_last, keep_days
    )
    return BackupResult(dump, manifest, deleted)


def _free_name(directory: Path, database: str, started: datetime, fmt: str) -> Path:
    """`<db>-<UTC stamp>.dump` (or `.dir`), with a counter when a second holds two backups."""
    suffix = "dir" if fmt == DIRECTORY else "dump"
    base = f"{database}-{stamp(started)}"
    for n in range(1000):
        dump = directory / (f"{base}.{suffix}" if n == 0 else f"{base}-{n}.{suffix}")
        if not (dump.exists() or manifest_path(dump).exists()):
            return dump
    raise UsageError(f"{directory}: too many backups named {base}")


def ensure_writable(directory: Path) -> None:
    """Create the directory and prove we can write there, before touching the database."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".prodready-write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write backups to {directory}: {exc.strerror}") from None


def _run_pg_dump(
    tools: ClientTools, dsn: str, out: Path, fmt: str, jobs: int, snapshot_id: str
) -> None:
    command = [tools.pg_dump, f"--format={fmt}", f"--file={out}", f"--snapshot={snapshot_id}"]
    if fmt == DIRECTORY:
        command.append(f"--jobs={jobs}")
    run_tool(command, dsn, "pg_dump")


def _verify_written(dump: Path, manifest: Manifest, tools: ClientTools) -> None:
    """Re-read what was written (checksums) and its table of contents before trusting it."""
    problems = checksum_problems(dump, manifest.files)
    if problems:
        raise UsageError(f"{dump} changed while being written: {problems[0]}")
    listing = subprocess.run(
        [tools.pg_restore, "--list", str(dump)], capture_output=True, text=True, timeout=600
    )
    if listing.returncode != 0:
        raise UsageError(
            f"{dump}: pg_restore cannot read what pg_dump wrote: {listing.stderr.strip()}"
        )


def _line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
