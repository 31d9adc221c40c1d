"""`advise --workload code:PATH`: an index recommended from the SQL a code base runs."""

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
        CREATE EXTENSION IF NOT EXISTS hypopg;
        CREATE TABLE buyers (id bigint PRIMARY KEY, email text NOT NULL);
        INSERT INTO buyers SELECT g, 'b' || g || '@example.com' FROM generate_series(1, 50000) g;
        ANALYZE buyers;
        """
    )
    return db


def test_advise_reads_the_sql_of_a_source_tree(shop: TestDatabase, tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "buyers.py").write_text(
        "def by_email(cur, email):\n"
        "    cur.execute('SELECT id FROM buyers WHERE email = %s', (email,))\n"
        "    return cur.fetchone()\n"
    )
    result = run_cli("advise", "--db", shop.dsn, "-w", f"code:{tmp_path}", "--format", "json")
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    [index] = advice["indexes"]
    assert index["table"] == "public.buyers" and "email" in index["definition"]
    assert advice["workload"]["statements"] == 1
