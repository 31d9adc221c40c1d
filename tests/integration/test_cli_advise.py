"""`prodready advise` end to end: workload file in, advisor JSON out, read-only on the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.integration.test_cli_errors import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.execute(
        """
        CREATE EXTENSION IF NOT EXISTS hypopg;
        CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
        INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 50000) g;
        ANALYZE customers;
        """
    )
    return db


def test_advise_recommends_an_index_with_proof(shop: TestDatabase, tmp_path: Path) -> None:
    workload = tmp_path / "workload.sql"
    workload.write_text(
        "-- weight: 500\nSELECT id FROM customers WHERE email = 'c42@example.com';\n"
    )
    result = run_cli("advise", "--db", shop.dsn, "--workload", str(workload), "--format", "json")
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    assert {"indexes", "drops", "workload", "workload_cost", "whatif_calls", "elapsed_s"} <= set(
        advice
    )
    [index] = advice["indexes"]
    assert index["table"] == "public.customers"
    assert index["definition"].startswith("CREATE INDEX CONCURRENTLY")
    assert '"email"' in index["definition"] or "email" in index["definition"]
    assert index["benefit"]["workload_cost_after"] < index["benefit"]["workload_cost_before"] / 10
    assert advice["workload"]["statements"] == 1 and advice["whatif_calls"] > 0
    assert advice["new_index_bytes"] == index["estimated_bytes"] > 0  # the set's price
    # advice builds nothing: the table still has only its primary key
    assert shop.query("SELECT count(*) FROM pg_indexes WHERE tablename = 'customers'") == [(1,)]


def test_an_empty_workload_file_is_bad_input(shop: TestDatabase, tmp_path: Path) -> None:
    workload = tmp_path / "empty.sql"
    workload.write_text("-- nothing here yet\n")
    assert_one_line_error(run_cli("advise", "--db", shop.dsn, "--workload", str(workload)), 2)


def test_no_recorded_statements_is_a_clear_message_and_exit_0(fresh_db: TestDatabase) -> None:
    [(oid,)] = fresh_db.query("SELECT oid FROM pg_database WHERE datname = current_database()")
    fresh_db.execute(f"SELECT pg_stat_statements_reset(0, {int(oid)}, 0)")  # names no table
    result = run_cli("advise", "--db", fresh_db.dsn)
    assert result.returncode == 0, result.stderr
    assert "workload is empty" in result.stderr and result.stdout == ""


def test_advise_rejects_a_bad_budget(shop: TestDatabase) -> None:
    result = run_cli("advise", "--db", shop.dsn, "--budget", "lots")
    assert_one_line_error(result, 2, "not a size")
