"""Backup → verify on a real database: a good dump passes; tampered, truncated, refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from prodready.backup import inspect, take_backup, verify_dump
from prodready.backup.model import drill_path, load_manifest, manifest_path
from prodready.errors import UsageError
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE "Order Lines" (id serial PRIMARY KEY, customer_id bigint REFERENCES customers,
                            amount numeric(10,2), note text);
CREATE INDEX order_lines_customer ON "Order Lines" (customer_id);
INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 500) g;
INSERT INTO "Order Lines" (customer_id, amount)
    SELECT 1 + g % 500, g FROM generate_series(1, 2000) g;
ANALYZE;
"""


@pytest.fixture(scope="module")
def source(db: TestDatabase) -> TestDatabase:
    db.run_script(SCHEMA)
    return db


@pytest.fixture(scope="module")
def good_dump(source: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return take_backup(source.dsn, tmp_path_factory.mktemp("backups")).dump


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": ""},
    )


def test_manifest_records_files_counts_and_fingerprint(good_dump: Path) -> None:
    manifest = load_manifest(good_dump)
    assert manifest.format == "custom"
    assert manifest.files[0].size == good_dump.stat().st_size
    counts = {t.table: (t.rows, t.estimated) for t in manifest.tables}
    assert counts == {"public.customers": (500, False), "public.Order Lines": (2000, False)}
    assert len(manifest.schema_fingerprint) == 64
    assert manifest.pg_dump_version.split(".")[0] == manifest.server_version.split(".")[0]


def test_verify_passes_and_writes_a_drill_record(good_dump: Path, source: TestDatabase) -> None:
    record = verify_dump(good_dump, source.cluster.dsn(), jobs=2)
    assert record.ok, record.steps
    assert [s.name for s in record.steps] == [
        "checksums", "restore", "schema", "row_counts", "tables_readable", "indexes_valid",
        "sequences_ahead",
    ]  # fmt: skip
    assert record.rto_s > 0 and record.rpo_s >= 0
    saved = json.loads(drill_path(good_dump).read_text())
    assert saved["ok"] is True
    with psycopg.connect(source.cluster.dsn()) as conn:
        drills = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'prodready_drill%'"
        ).fetchall()
    assert drills == []  # the scratch database is dropped after the drill


def test_tampered_dump_fails_verify(good_dump: Path, source: TestDatabase, tmp_path: Path) -> None:
    copy = tmp_path / good_dump.name
    data = bytearray(good_dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    manifest_path(copy).write_text(manifest_path(good_dump).read_text())
    result = run_cli("backup", "verify", str(copy), "--scratch", source.cluster.dsn())
    assert result.returncode == 1, result.stderr
    assert "does not match its sha256" in result.stdout
    assert "Traceback" not in result.stderr


def test_truncated_dump_fails_verify(good_dump: Path, source: TestDatabase, tmp_path: Path) -> None:
    copy = tmp_path / good_dump.name
    copy.write_bytes(good_dump.read_bytes()[:1000])
    manifest_path(copy).write_text(manifest_path(good_dump).read_text())
    record = verify_dump(copy, source.cluster.dsn())
    assert not record.ok
    assert record.steps[0].name == "checksums" and "1,000 bytes" in record.steps[0].detail


def test_missing_manifest_is_a_usage_error(good_dump: Path, tmp_path: Path) -> None:
    copy = tmp_path / good_dump.name
    copy.write_bytes(good_dump.read_bytes())
    result = run_cli("backup", "verify", str(copy), "--scratch", "host=127.0.0.1 password=hunter2")
    assert result.returncode == 2
    assert "manifest missing" in result.stderr and "hunter2" not in result.stderr


def test_scratch_pointing_at_the_source_is_refused(good_dump: Path, source: TestDatabase) -> None:
    with pytest.raises(UsageError, match="it is the database the dump was taken from"):
        verify_dump(good_dump, source.dsn)


def test_directory_format_with_jobs_and_estimated_counts(
    source: TestDatabase, tmp_path: Path
) -> None:
    result = take_backup(source.dsn, tmp_path, jobs=2, exact_count_limit=1000)
    assert result.dump.is_dir() and result.manifest.format == "directory"
    estimated = {t.table: t.estimated for t in result.manifest.tables}
    assert estimated == {"public.customers": False, "public.Order Lines": True}
    assert len(result.manifest.files) >= 3  # toc.dat plus one file per table
    assert verify_dump(result.dump, source.cluster.dsn(), jobs=2).ok


def test_unwritable_target_is_one_clear_line(source: TestDatabase, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("backup", "--db", source.dsn, "--to", str(blocker / "sub"))
    assert result.returncode == 2
    assert result.stderr.startswith("prodready: error: cannot write backups to")
    assert source.cluster.password not in result.stderr


def test_restore_refuses_without_yes(good_dump: Path, source: TestDatabase) -> None:
    result = run_cli("restore", str(good_dump), "--db", source.dsn)
    assert result.returncode == 2 and "--yes" in result.stderr
    assert not list(good_dump.parent.glob("*.partial"))


def test_restore_takes_a_pre_restore_backup_and_verifies(
    good_dump: Path, source: TestDatabase, tmp_path: Path
) -> None:
    source.execute('DELETE FROM "Order Lines" WHERE id > 1990')
    result = run_cli(
        "restore", str(good_dump), "--db", source.dsn, "--yes", "--pre-backup-to", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "restored and verified" in result.stdout
    assert len(list(tmp_path.glob("*.manifest.json"))) == 1
    assert source.query('SELECT count(*) FROM "Order Lines"') == [(2000,)]


def test_smoke_finds_a_sequence_behind_its_column(fresh_db: TestDatabase) -> None:
    fresh_db.execute("CREATE TABLE s (id serial PRIMARY KEY); INSERT INTO s VALUES (1), (2), (50)")
    with psycopg.connect(fresh_db.dsn) as conn:
        [behind] = inspect.sequences_behind(conn)
        assert behind.startswith("public.s_id_seq (next 1, public.s.id max 50)")
        conn.execute("SELECT setval('s_id_seq', 50)")
        assert inspect.sequences_behind(conn) == []
