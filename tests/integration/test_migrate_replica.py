"""`apply` against a real streaming replica: refused up front, one line, exit 3, nothing run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from prodready.pg.cluster import LocalCluster, free_port
from tests.integration.test_cli_errors import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[LocalCluster, str]]:
    """A small primary of its own and a hot standby streaming from it (pg_basebackup -R)."""
    primary = LocalCluster().start()
    assert primary.root is not None
    standby = primary.root / "standby"
    port = free_port()
    try:
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE shipped (id int PRIMARY KEY)")
        source = f"host=127.0.0.1 port={primary.port} user=postgres password={primary.password}"
        primary._run("pg_basebackup", "-d", source, "-D", str(standby), "-R", "-X", "stream")
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {port}\nhot_standby = on\n")
        log = primary.root / "standby.log"
        primary._run("pg_ctl", "-D", str(standby), "-l", str(log), "-w", "-t", "60", "start")
        dsn = (
            f"host=127.0.0.1 port={port} dbname=postgres user=postgres password={primary.password}"
        )
        _wait_for_recovery(dsn)
        yield primary, dsn
    finally:
        primary._run("pg_ctl", "-D", str(standby), "-m", "fast", "-w", "stop", check=False)
        primary.stop()


def _wait_for_recovery(dsn: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                assert row == (True,)
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_apply_refuses_a_replica(replica: tuple[LocalCluster, str], tmp_path: Path) -> None:
    primary, dsn = replica
    (tmp_path / "0001_add_column.up.sql").write_text("ALTER TABLE shipped ADD COLUMN x int;\n")
    (tmp_path / "0001_add_column.down.sql").write_text("ALTER TABLE shipped DROP COLUMN x;\n")
    result = run_cli("apply", str(tmp_path), "--db", dsn)
    assert_one_line_error(result, 3, "read-only replica", "apply migrations on the primary")
    assert primary.password not in result.stderr
    rollback = run_cli("rollback", str(tmp_path), "--db", dsn, "--to", "0")
    assert_one_line_error(rollback, 3, "read-only replica")
    # the primary never saw a journal: nothing was run anywhere
    with psycopg.connect(primary.dsn()) as conn:
        assert conn.execute("SELECT to_regnamespace('prodready')").fetchone() == (None,)


def test_the_audit_works_on_a_replica(replica: tuple[LocalCluster, str]) -> None:
    """Auditing a read replica is the safest place to audit: it must just work."""
    _, dsn = replica
    result = run_cli("audit", "--db", dsn, "--format", "json", "--no-advise")
    assert result.returncode == 0, result.stderr
    assert '"tool": "prodready"' in result.stdout
