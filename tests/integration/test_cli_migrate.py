"""The change loop through the real command (fix, lint, apply, verify, rollback) and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.integration.test_cli_errors import assert_one_line_error, run_cli

SHOP = """
CREATE TABLE buyers (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, buyer_id bigint REFERENCES buyers (id),
                     total numeric NOT NULL DEFAULT 0);
INSERT INTO buyers SELECT g, 'b' || g FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000, g FROM generate_series(1, 200000) g;
CREATE INDEX orders_total_idx ON orders (total);
CREATE INDEX orders_total_dup_idx ON orders (total);
VACUUM ANALYZE;
"""
WORKLOAD = """-- name: orders_of_buyer
-- weight: 100
SELECT id, total FROM orders WHERE buyer_id = 42;
"""


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.run_script(SHOP)
    return db


def test_fix_lint_apply_verify_rollback(shop: TestDatabase, tmp_path: Path) -> None:
    workload = tmp_path / "workload.sql"
    workload.write_text(WORKLOAD)
    baseline = tmp_path / "before.json"
    saved = run_cli("verify", "--db", shop.dsn, "-w", str(workload), "--save", str(baseline),
                    "--runs", "3")  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert json.loads(baseline.read_text())["kind"] == "verify-baseline"

    migrations = tmp_path / "migrations"
    fixed = run_cli("fix", "--db", shop.dsn, "--out", str(migrations))
    assert fixed.returncode == 0, fixed.stderr
    names = sorted(p.name for p in migrations.iterdir())
    assert "0001_add_index_orders_buyer_id_idx.up.sql" in names
    # one of the two identical indexes goes, after the new index is in place
    assert names[-1] == "0003_drop_index_orders_total_idx.up.sql"
    assert shop.cluster.password not in fixed.stdout + fixed.stderr

    linted = run_cli("lint-migrations", str(migrations), "--db", shop.dsn, "--format", "json")
    assert linted.returncode == 0, linted.stdout
    assert [i for i in json.loads(linted.stdout)["issues"] if i["level"] == "error"] == []

    dry = run_cli("apply", str(migrations), "--db", shop.dsn, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert shop.query("SELECT to_regclass('public.orders_buyer_id_idx')") == [(None,)]

    applied = run_cli("apply", str(migrations), "--db", shop.dsn, "--format", "json")
    assert applied.returncode == 0, applied.stderr
    outcome = json.loads(applied.stdout)
    assert {m["action"] for m in outcome["migrations"]} == {"applied"}
    assert shop.query(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.orders_buyer_id_idx'::regclass"
    ) == [(True,)]

    status = run_cli("migrations", str(migrations), "--db", shop.dsn, "--format", "json")
    assert status.returncode == 0, status.stderr
    assert "applied" in status.stdout

    verified = run_cli("verify", "--db", shop.dsn, "--baseline", str(baseline),
                       "--expect-speedup", "2", "--format", "json")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    comparison = json.loads(verified.stdout)
    (row,) = comparison["statements"]
    assert row["plan_changed"] and "public.orders_buyer_id_idx" in row["indexes_added"]
    assert comparison["weighted"]["speedup"] >= 2 and comparison["passed"]

    undone = run_cli("rollback", str(migrations), "--db", shop.dsn, "--to", "0")
    assert undone.returncode == 0, undone.stderr
    assert shop.query("SELECT to_regclass('public.orders_buyer_id_idx')") == [(None,)]
    assert shop.query("SELECT to_regclass('public.orders_total_idx') IS NOT NULL") == [(True,)]


def test_an_edited_migration_is_refused(shop: TestDatabase, tmp_path: Path) -> None:
    migrations = tmp_path / "m"
    assert run_cli("fix", "--db", shop.dsn, "--out", str(migrations), "--only",
                   "unindexed_foreign_key").returncode == 0  # fmt: skip
    assert run_cli("apply", str(migrations), "--db", shop.dsn).returncode == 0
    up = next(migrations.glob("0001_*.up.sql"))
    up.write_text(up.read_text() + "\n-- edited\n")
    assert_one_line_error(
        run_cli("apply", str(migrations), "--db", shop.dsn), 2, "edited after it was applied"
    )
    up.write_text(up.read_text().replace("\n-- edited\n", ""))
    assert run_cli("rollback", str(migrations), "--db", shop.dsn, "--to", "0").returncode == 0


def test_a_failing_migration_exits_5_and_leaves_nothing(shop: TestDatabase, tmp_path: Path) -> None:
    (tmp_path / "0001_bad.up.sql").write_text(
        "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    (tmp_path / "0001_bad.down.sql").write_text("DROP TABLE half_done;\n")
    result = run_cli("apply", str(tmp_path), "--db", shop.dsn)
    assert result.returncode == 5, result.stderr
    # progress lines come first; the error is one line and ends the output
    *progress, error = result.stderr.strip().splitlines()
    assert progress[0] == "applying 0001_bad (transactional, 2 statements)"
    assert error == (
        'prodready: error: 0001_bad failed at statement 2 of 2: relation "no_such_table" '
        "does not exist; nothing of it was applied"
    )
    assert "Traceback" not in result.stderr
    assert shop.query("SELECT to_regclass('public.half_done')") == [(None,)]
    assert shop.cluster.password not in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["fix", "--report", "/nonexistent/report.json", "--out", "x"], ["no such file"]),
        (["fix", "--report", "README.md", "--out", "x"], ["not a prodready report.json"]),
        (["apply", "/nonexistent/dir", "--db", "host=127.0.0.1 port=1"], ["does not exist"]),
        (["verify", "--db", "host=x", "--save", "a.json", "--baseline", "b.json"], ["exactly one"]),
        (["verify", "--db", "host=x", "--baseline", "README.md"], ["README.md"]),
        (["lint-migrations", "/nonexistent/m.sql"], ["/nonexistent/m.sql"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    assert_one_line_error(run_cli(*args, cwd=Path(__file__).parents[2]), 2, *words)


def test_fix_refuses_unknown_check_ids(shop: TestDatabase, tmp_path: Path) -> None:
    result = run_cli("fix", "--db", shop.dsn, "--out", str(tmp_path), "--only", "no_such_check")
    assert_one_line_error(result, 2, "no_such_check")


def test_apply_refuses_a_zero_lock_timeout(shop: TestDatabase, tmp_path: Path) -> None:
    result = run_cli("apply", str(tmp_path), "--db", shop.dsn, "--lock-timeout", "0")
    assert_one_line_error(result, 2, "--lock-timeout")


def test_lint_errors_exit_1(shop: TestDatabase, tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("ALTER TABLE orders ALTER COLUMN total TYPE text;\n")
    result = run_cli("lint-migrations", str(tmp_path), "--db", shop.dsn, "--large", "1MB")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rewrites public.orders" in result.stdout


def test_fix_writes_an_alembic_chain(shop: TestDatabase, tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    result = run_cli("fix", "--db", shop.dsn, "--out", str(versions), "--format", "alembic")
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in versions.glob("*.py"))
    assert files[0] == "0001_add_index_orders_buyer_id_idx.py"
    first = (versions / files[0]).read_text()
    assert "down_revision = None" in first
    assert "autocommit_block()" in first  # CONCURRENTLY outside Alembic's transaction
    second = (versions / files[1]).read_text()
    assert 'down_revision = "prodready_0001_' in second
