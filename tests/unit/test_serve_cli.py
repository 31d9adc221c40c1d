"""The serve/alerts/backup commands fail with one line and a documented exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

UNREACHABLE = "host=127.0.0.1 port=1 dbname=x user=u password=hunter2 connect_timeout=2"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", *args], capture_output=True, text=True, timeout=60
    )


def test_serve_on_a_public_address_needs_a_token() -> None:
    result = run("serve", "--db", UNREACHABLE, "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "prodready: error: --host 0.0.0.0 is not a loopback address: give --token to protect it"
    )


def test_bad_refresh_is_a_usage_error() -> None:
    result = run("serve", "--db", UNREACHABLE, "--refresh", "soon")
    assert result.returncode == 2 and "--refresh" in result.stderr


def test_alerts_cli_writes_both_formats(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert run("alerts", "--out", str(out)).returncode == 0
    assert yaml.safe_load(out.read_text())["groups"][0]["name"] == "prodready"
    assert len(json.loads(run("alerts", "--format", "json").stdout)) == 9
    assert run("alerts", "--format", "xml").returncode == 2


def test_backup_of_an_unreachable_database_is_exit_3(tmp_path: Path) -> None:
    result = run("backup", "--db", UNREACHABLE, "--to", str(tmp_path / "b"))
    assert result.returncode == 3
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
