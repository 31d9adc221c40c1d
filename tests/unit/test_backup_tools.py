"""Client discovery (older pg_dump refused), schedules without passwords, manifest JSON."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from prodready.backup.binaries import find_client_tools
from prodready.backup.files import checksum_entries, checksum_problems
from prodready.backup.model import FileEntry, Manifest, SourceIdentity, TableCount
from prodready.backup.schedule import Job, render_schedule
from prodready.errors import EXIT_TARGET, TargetError

DSN = "postgresql://app:s3cret-pw@db.internal:5432/shop"


def fake_client(root: Path, version: str) -> Path:
    bindir = root / version / "bin"
    bindir.mkdir(parents=True)
    for tool in ("pg_dump", "pg_restore"):
        script = bindir / tool
        script.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) {version}'\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bindir


def test_picks_the_closest_client_at_least_as_new(tmp_path: Path) -> None:
    dirs = [fake_client(tmp_path, v) for v in ("13.9", "16.2", "15.4")]
    assert find_client_tools(150003, dirs).version == "15.4"


def test_only_older_clients_is_a_clear_target_error(tmp_path: Path) -> None:
    dirs = [fake_client(tmp_path, "13.9")]
    with pytest.raises(TargetError, match="only older pg_dump clients exist") as info:
        find_client_tools(160001, dirs)
    assert info.value.exit_code == EXIT_TARGET
    assert "postgresql-client-16" in str(info.value)


@pytest.mark.parametrize("fmt", ["cron", "systemd", "kubernetes"])
def test_schedule_never_prints_the_password(fmt: str) -> None:
    job = Job(DSN, "/backups", "postgresql://drill:other-pw@scratch/postgres", 7, 14, 1)
    text = render_schedule(job, fmt)
    assert "s3cret-pw" not in text and "other-pw" not in text
    assert "prodready backup" in text and "backup verify /backups" in text


def test_kubernetes_schedule_is_a_cronjob() -> None:
    text = render_schedule(Job(DSN, "/backups", None, None, 14, 2), "kubernetes")
    doc = yaml.safe_load(text)
    assert doc["kind"] == "CronJob"
    container = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"] for e in container["env"]} == {"DATABASE_URL", "PRODREADY_SCRATCH_URL"}


def test_checksums_catch_edits_truncation_and_extra_files(tmp_path: Path) -> None:
    dump = tmp_path / "d.dir"
    dump.mkdir()
    (dump / "toc.dat").write_bytes(b"x" * 100)
    (dump / "1.dat.gz").write_bytes(b"y" * 50)
    entries = checksum_entries(dump)
    assert checksum_problems(dump, entries) == []
    (dump / "1.dat.gz").write_bytes(b"z" * 50)
    (dump / "toc.dat").write_bytes(b"x" * 10)
    (dump / "extra").write_bytes(b"")
    problems = checksum_problems(dump, entries)
    assert len(problems) == 3
    assert any("sha256" in p for p in problems) and any("10 bytes" in p for p in problems)


def test_manifest_round_trips_through_json() -> None:
    manifest = Manifest(
        dump="shop-20261207T000000Z.dump", format="custom", started_at="2026-12-07T00:00:00+00:00",
        finished_at="2026-12-07T00:00:05+00:00", duration_s=5.0, server_version="15.4",
        server_version_num=150004, pg_dump_version="15.4",
        source=SourceIdentity("7312", "shop", 16384, "2026-12-01 00:00:00+00"),
        schema_fingerprint="f" * 64, files=[FileEntry("shop.dump", 10, "a" * 64)],
        tables=[TableCount("public", "orders", 10**9, True)],
    )  # fmt: skip
    assert Manifest.from_json(manifest.to_json(), "m") == manifest
