"""The restore drill: checksums, a fresh scratch database, restore, compare, smoke, record."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from prodready.backup import inspect
from prodready.backup.binaries import ClientTools, find_client_tools
from prodready.backup.compare import compare_restored
from prodready.backup.dump import stamp, utc_now
from prodready.backup.files import checksum_problems
from prodready.backup.model import (
    DrillRecord,
    DrillStep,
    Manifest,
    drill_path,
    load_manifest,
    write_json,
)
from prodready.backup.restore_run import run_pg_restore
from prodready.backup.run import ToolError
from prodready.errors import TargetError, UsageError
from prodready.pg.connection import SessionLimits, connect, describe_target, redact_dsn

DRILL_DB_PREFIX = "prodready_drill_"


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def verify_dump(
    dump: Path, scratch_dsn: str, *, jobs: int | None = None, keep: bool = False
) -> DrillRecord:
    """Run the drill for `dump` on the scratch server and write its record beside the dump.

    The restore goes into a new database created on the scratch server (so drills repeat
    cleanly) and dropped afterwards unless `keep`.
    """
    manifest = load_manifest(dump)
    started = utc_now()
    problems = checksum_problems(dump, manifest.files)
    if problems:
        step = DrillStep("checksums", False, "; ".join(problems[:5]))
        return _record(dump, manifest, started, 0.0, redact_dsn(scratch_dsn), [step])
    steps = [DrillStep("checksums", True, f"{len(manifest.files)} file(s) match the manifest")]
    limits = SessionLimits(statement_timeout_ms=0)
    with connect(scratch_dsn, read_only=False, limits=limits) as admin:
        scratch = inspect.server_facts(admin)
        if inspect.same_database(manifest.source, scratch.identity):
            raise UsageError(
                f"refusing to restore into {describe_target(scratch_dsn)}: it is the database "
                f"the dump was taken from; give a scratch server or database"
            )
        tools = find_client_tools(max(scratch.server_version_num, manifest.server_version_num))
        target = _create_drill_database(admin, started)
    target_dsn = conninfo.make_conninfo(scratch_dsn, dbname=target)
    try:
        restore_s, restore_step = _restore(tools, dump, target_dsn, jobs or default_jobs())
        steps.append(restore_step)
        if restore_step.ok:
            with connect(target_dsn, read_only=True, limits=limits) as conn:
                steps += compare_restored(conn, manifest)
    finally:
        if not keep:
            _drop_drill_database(scratch_dsn, target)
    where = f"{describe_target(scratch_dsn)} database {target}" + ("" if keep else " (dropped)")
    return _record(dump, manifest, started, restore_s, where, steps)


def _restore(tools: ClientTools, dump: Path, dsn: str, jobs: int) -> tuple[float, DrillStep]:
    clock = time.monotonic()
    try:
        run_pg_restore(tools, dump, dsn, jobs=jobs, clean=False, owners=False)
    except (ToolError, UsageError) as exc:
        return time.monotonic() - clock, DrillStep("restore", False, str(exc))
    elapsed = time.monotonic() - clock
    return elapsed, DrillStep("restore", True, f"pg_restore --jobs={jobs} in {elapsed:.1f} s")


def _create_drill_database(admin: psycopg.Connection, started: datetime) -> str:
    name = f"{DRILL_DB_PREFIX}{stamp(started).lower()}_{os.getpid()}"
    try:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        raise TargetError(
            "the scratch role may not create databases (the drill restores into a new one); "
            "grant it CREATEDB on the scratch server"
        ) from None
    return name


def _drop_drill_database(scratch_dsn: str, name: str) -> None:
    with connect(scratch_dsn, read_only=False) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _record(
    dump: Path,
    manifest: Manifest,
    started: datetime,
    restore_s: float,
    scratch: str,
    steps: list[DrillStep],
) -> DrillRecord:
    finished = utc_now()
    record = DrillRecord(
        dump=dump.name,
        ok=all(step.ok for step in steps),
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        dump_finished_at=manifest.finished_at,
        rto_s=round(restore_s, 3),
        rpo_s=round((started - datetime.fromisoformat(manifest.finished_at)).total_seconds(), 1),
        scratch=scratch,
        steps=steps,
    )
    try:
        write_json(drill_path(dump), record.to_json())
    except OSError as exc:
        raise UsageError(f"cannot write the drill record beside {dump}: {exc.strerror}") from None
    return record
