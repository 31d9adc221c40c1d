"""`advise --workload code:PATH`: the SQL a code base passes to its query calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.advisor.workload import load_workload
from prodready.code.workload import dollar_params
from prodready.errors import UsageError


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a FROM t WHERE b = %s AND c = %s", "SELECT a FROM t WHERE b = $1 AND c = $2"),
        ("SELECT a FROM t WHERE b = %(b)s OR c = %(b)s", "SELECT a FROM t WHERE b = $1 OR c = $1"),
        ("SELECT a FROM t WHERE b = :b AND c::text = '%s'",
         "SELECT a FROM t WHERE b = $1 AND c::text = '%s'"),
        ("SELECT a FROM t WHERE b = ? AND c = $1", "SELECT a FROM t WHERE b = $2 AND c = $1"),
    ],
)  # fmt: skip
def test_driver_placeholders_become_dollar_params(sql: str, expected: str) -> None:
    assert dollar_params(sql) == expected


def test_code_workload_collects_plannable_sql_from_server_code(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "api" / "orders.js").write_text(
        "await pool.query('SELECT id FROM orders WHERE buyer_id = $1', [u]);\n"
        "await pool.query('SELECT id FROM orders WHERE buyer_id = $1', [v]);\n"
        "await sql`SELECT id FROM items WHERE order_id = ${id}`;\n"
        "await pool.query('CREATE TABLE x (id int)');\n"
    )
    (tmp_path / "api" / "views.py").write_text(
        "cur.execute('UPDATE orders SET paid = true WHERE id = %s', (i,))\n"
    )
    (tmp_path / "tests" / "test_x.py").write_text("cur.execute('SELECT id FROM secret_t')\n")
    queries = load_workload([f"code:{tmp_path}"], None)
    by_text = {q.text: q for q in queries}
    assert set(by_text) == {
        "SELECT id FROM orders WHERE buyer_id = $1",
        "SELECT id FROM items WHERE order_id = $1",
        "UPDATE orders SET paid = true WHERE id = $1",
    }
    assert by_text["SELECT id FROM orders WHERE buyer_id = $1"].calls == 2


def test_missing_code_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_workload([f"code:{tmp_path / 'nope'}"], None)
