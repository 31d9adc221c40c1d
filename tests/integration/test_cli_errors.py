"""Bad input: one clear line on stderr, the documented exit code, never a traceback or password."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodready.pg.cluster import LocalCluster, free_port
from tests.conftest import TestDatabase


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prodready: error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def not_postgres() -> Iterator[int]:
    """A loopback server that answers like a web server, not like PostgreSQL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_unreachable_host_exits_3() -> None:
    port = free_port()
    result = run_cli("audit", "--db", f"postgresql://u:s3cretpw@127.0.0.1:{port}/app")
    assert_one_line_error(result, 3, "cannot reach 127.0.0.1", "refused")
    assert "s3cretpw" not in result.stderr + result.stdout


def test_wrong_password_exits_3_without_echoing_it(pg_cluster: LocalCluster) -> None:
    dsn = pg_cluster.dsn(password="Wr0ng-pa55word")
    result = run_cli("audit", "--db", dsn)
    assert_one_line_error(result, 3, "authentication failed", "postgres")
    assert "Wr0ng-pa55word" not in result.stderr + result.stdout
    assert pg_cluster.password not in result.stderr + result.stdout


def test_wrong_password_in_url_is_not_echoed(pg_cluster: LocalCluster) -> None:
    result = run_cli(
        "snapshot", "--db", f"postgresql://postgres:hunter2@127.0.0.1:{pg_cluster.port}/x"
    )
    assert result.returncode == 3
    assert "hunter2" not in result.stderr + result.stdout


def test_missing_database_exits_3(pg_cluster: LocalCluster) -> None:
    result = run_cli("audit", "--db", pg_cluster.dsn("no_such_db"))
    assert_one_line_error(result, 3, "database does not exist")
    assert pg_cluster.password not in result.stderr


def test_not_postgresql_exits_3(not_postgres: int) -> None:
    result = run_cli(
        "audit",
        "--db",
        f"host=127.0.0.1 port={not_postgres} user=x password=pw1234 sslmode=disable "
        "connect_timeout=3",
    )
    assert_one_line_error(result, 3, f"127.0.0.1:{not_postgres}")
    assert "pw1234" not in result.stderr


def test_malformed_dsn_exits_2() -> None:
    result = run_cli("audit", "--db", "host=127.0.0.1 password=topsecret bogus_option=1")
    assert_one_line_error(result, 2, "invalid connection string")
    assert "topsecret" not in result.stderr


def test_missing_connect_privilege_exits_3(db: TestDatabase) -> None:
    db.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'no_connect_user') THEN
            CREATE ROLE no_connect_user LOGIN PASSWORD 'nc-pass-1';
          END IF;
        END $$;
        REVOKE CONNECT ON DATABASE {db.name} FROM PUBLIC;
        """
    )
    try:
        result = run_cli("audit", "--db", db.dsn_as("no_connect_user", "nc-pass-1"))
        assert_one_line_error(result, 3, "CONNECT privilege")
        assert "nc-pass-1" not in result.stderr
    finally:
        db.execute(f"GRANT CONNECT ON DATABASE {db.name} TO PUBLIC")


def test_unprivileged_role_degrades_with_limitations(db: TestDatabase) -> None:
    db.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain_auditor') THEN
            CREATE ROLE plain_auditor LOGIN PASSWORD 'pa-pass-1';
          END IF;
        END $$;
        CREATE SEQUENCE IF NOT EXISTS private_seq;
        """
    )
    result = run_cli("audit", "--db", db.dsn_as("plain_auditor", "pa-pass-1"), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    areas = {item["area"] for item in report["limitations"]}
    assert {"activity", "sequences"} <= areas
    assert "pa-pass-1" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99, "server": {}, "database": {}}', "newer than this prodready"),
        ('{"schema_version": 1, "server": {"x": 1}, "database": {}}', "corrupt snapshot"),
        ("[1, 2]", "not a prodready snapshot"),
    ],
)
def test_bad_snapshot_files_exit_2(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "snap.json"
    path.write_text(content)
    assert_one_line_error(run_cli("audit", "--snapshot", str(path)), 2, words)


def test_missing_snapshot_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("audit", "--snapshot", str(tmp_path / "nope.json"))
    assert_one_line_error(result, 2, "cannot read snapshot")


def test_usage_errors_exit_2(tmp_path: Path, db: TestDatabase) -> None:
    assert_one_line_error(run_cli("audit"), 2, "--db")
    assert_one_line_error(
        run_cli("audit", "--db", db.dsn, "--fail-on", "huge"), 2, "unknown severity"
    )
    assert_one_line_error(run_cli("audit", "--db", db.dsn, "--format", "pdf"), 2, "unknown format")
    bad_config = tmp_path / "prodready.toml"
    bad_config.write_text("[checks\n")
    assert_one_line_error(
        run_cli("audit", "--db", db.dsn, "--config", str(bad_config)), 2, "malformed config"
    )
    bad_config.write_text("[checks.no_such_check]\nx = 1\n")
    assert_one_line_error(
        run_cli("audit", "--db", db.dsn, "--config", str(bad_config)), 2, "unknown check"
    )
