"""`prodready audit/snapshot/checks` end to end through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.integration.test_cli_errors import run_cli


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.execute(
        """
        CREATE TABLE buyers (id bigint PRIMARY KEY, email text);
        CREATE TABLE orders (id bigint PRIMARY KEY, buyer_id bigint REFERENCES buyers (id));
        INSERT INTO buyers SELECT g, 'b' || g FROM generate_series(1, 100) g;
        INSERT INTO orders SELECT g, 1 + g % 100 FROM generate_series(1, 1000) g;
        ANALYZE;
        """
    )
    return db


def test_audit_json_on_stdout_follows_the_contract(shop: TestDatabase) -> None:
    result = run_cli("audit", "--db", shop.dsn, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tool"] == "prodready" and report["schema"] == 1
    assert report["target"]["database"]["name"] == shop.name
    assert report["target"]["database"]["server_version"].startswith("15")
    assert 0 <= report["score"]["overall"] <= 10
    fk = [f for f in report["findings"] if f["check"] == "unindexed_foreign_key"]
    assert [f["object"] for f in fk] == ["public.orders (buyer_id)"]
    assert fk[0]["fix"]["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert fk[0]["fix"]["rollback_sql"].startswith("DROP INDEX CONCURRENTLY")
    assert (
        fk[0]["phase"] in (1, 2, 3, 4)
        and fk[0]["key"] == "unindexed_foreign_key:" + fk[0]["object"]
    )
    assert shop.cluster.password not in result.stdout


def test_fail_on_gates_ci(shop: TestDatabase) -> None:
    gate = run_cli("audit", "--db", shop.dsn, "--format", "json", "--fail-on", "medium")
    assert gate.returncode == 1
    report = json.loads(gate.stdout)
    assert any(f["severity"] in ("medium", "high", "critical") for f in report["findings"])


def test_out_dir_writes_every_format_and_snapshot_audits_offline(
    shop: TestDatabase, tmp_path: Path
) -> None:
    snap_file = tmp_path / "snap.json"
    collected = run_cli("snapshot", "--db", shop.dsn, "-o", str(snap_file))
    assert collected.returncode == 0, collected.stderr
    assert "tables" in collected.stderr and snap_file.stat().st_size > 1000

    out = tmp_path / "report"
    offline = run_cli("audit", "--snapshot", str(snap_file), "--out", str(out))
    assert offline.returncode == 0, offline.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "PLAN.md", "report.html", "report.json", "report.sarif",
    ]  # fmt: skip
    live = json.loads(run_cli("audit", "--db", shop.dsn, "--format", "json").stdout)
    saved = json.loads((out / "report.json").read_text())
    assert {f["key"] for f in saved["findings"]} >= {
        f["key"] for f in live["findings"] if f["check"] == "unindexed_foreign_key"
    }
    sarif = json.loads((out / "report.sarif").read_text())
    assert sarif["version"] == "2.1.0"


def test_suppression_from_config_moves_finding_to_suppressed(
    shop: TestDatabase, tmp_path: Path
) -> None:
    (tmp_path / "prodready.toml").write_text(
        '[[suppress]]\nkey = "unindexed_foreign_key:public.orders (buyer_id)"\n'
        'reason = "orders are never looked up by buyer"\n'
    )
    result = run_cli("audit", "--db", shop.dsn, "--format", "json", cwd=tmp_path)
    report = json.loads(result.stdout)
    assert not [f for f in report["findings"] if f["check"] == "unindexed_foreign_key"]
    assert report["suppressed"] == [
        {
            "key": "unindexed_foreign_key:public.orders (buyer_id)",
            "check": "unindexed_foreign_key",
            "reason": "orders are never looked up by buyer",
        }
    ]


def test_checks_lists_the_catalog_as_json() -> None:
    result = run_cli("checks", "--format", "json")
    assert result.returncode == 0
    catalog = json.loads(result.stdout)
    ids = {c["id"] for c in catalog}
    assert {"unindexed_foreign_key", "rls_disabled", "fsync_disabled", "slow_query"} <= ids
    assert set(catalog[0]) == {"id", "title", "category", "severity", "description"}


def test_help_teaches() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "prodready demo" in result.stdout and "Exit codes" in result.stdout


def test_audit_carries_index_advice_for_the_recorded_workload(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        """
        CREATE EXTENSION hypopg;
        CREATE TABLE visits (id bigint PRIMARY KEY, page text, at timestamptz);
        INSERT INTO visits SELECT g, 'p' || (g % 5000), now() - g * interval '1 s'
        FROM generate_series(1, 60000) g;
        ANALYZE visits;
        """
    )
    for page in ("p1", "p2", "p3"):
        fresh_db.execute("SELECT count(*) FROM visits WHERE page = %s", (page,))
    report = json.loads(run_cli("audit", "--db", fresh_db.dsn, "--format", "json").stdout)
    advisor = report["advisor"]
    assert advisor is not None and advisor["workload"]["statements"] >= 1
    assert any('"page"' in i["definition"] for i in advisor["indexes"]), advisor["indexes"]
    skipped = json.loads(
        run_cli("audit", "--db", fresh_db.dsn, "--format", "json", "--no-advise").stdout
    )
    assert skipped["advisor"] is None


def test_advice_needs_select_and_says_so_for_a_monitoring_role(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        """
        CREATE EXTENSION hypopg;
        CREATE TABLE hits (id bigint PRIMARY KEY, path text);
        INSERT INTO hits SELECT g, '/p' || (g % 3000) FROM generate_series(1, 30000) g;
        ANALYZE hits;
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'advice_monitor') THEN
            CREATE ROLE advice_monitor LOGIN PASSWORD 'am-pw' IN ROLE pg_monitor;
          END IF;
        END $$;
        """
    )
    fresh_db.execute("SELECT count(*) FROM hits WHERE path = '/p7'")
    result = run_cli("audit", "--db", fresh_db.dsn_as("advice_monitor", "am-pw"), "-f", "json")
    report = json.loads(result.stdout)
    assert report["advisor"] is None
    [limit] = [x for x in report["limitations"] if x["area"] == "index_advisor"]
    assert "needs SELECT on their tables" in limit["reason"]
    assert "permission denied for table hits" in limit["reason"]
