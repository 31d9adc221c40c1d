"""What capture decides without a database: reads vs writes, and SQL file annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.advisor.workload import split_with_comments
from prodready.errors import UsageError
from prodready.verify.capture import _Function, called_functions, parse_annotations, write_reason

APP = _Function("public", volatile=True, on_path=True, from_extension=False)
STABLE = _Function("auth", volatile=False, on_path=False, from_extension=False)
BUILTIN = _Function("pg_catalog", volatile=True, on_path=True, from_extension=False)
EXTENSION = _Function("extensions", volatile=True, on_path=True, from_extension=True)
CATALOG = {
    "increment_views": [APP],
    "uid": [STABLE],
    "nextval": [BUILTIN],
    "random": [BUILTIN],
    "uuid_generate_v4": [EXTENSION],
    "hidden": [_Function("private", volatile=True, on_path=False, from_extension=False)],
}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SELECT id FROM orders WHERE buyer_id = 1", None),
        ("UPDATE orders SET status = 'paid' WHERE id = 1", "UPDATE statement"),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", "INSERT statement"),
        ("DELETE FROM t WHERE id = 1", "DELETE statement"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE statement"),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone", "DELETE statement"),
        ("SELECT * FROM jobs WHERE id = 1 FOR UPDATE", "locks rows with FOR UPDATE/SHARE"),
        ("SELECT public.increment_views(4)", "calls volatile function public.increment_views()"),
        ("SELECT increment_views(4)", "calls volatile function increment_views()"),
        ("SELECT * FROM t WHERE owner = auth.uid()", None),  # stable
        ("SELECT nextval('t_id_seq')", "calls volatile function nextval()"),
        ("SELECT random(), now() FROM t", None),  # built-in volatile without effects
        ("SELECT extensions.uuid_generate_v4()", None),  # an extension's own function
        ("SELECT hidden()", None),  # not on the search path: not the function called
        ("SELECT private.hidden()", "calls volatile function private.hidden()"),
        ("SELECT not_in_catalog(1)", None),
    ],
)  # fmt: skip
def test_write_reason(text: str, reason: str | None) -> None:
    assert write_reason(text, CATALOG) == reason


def test_called_functions_in_order_once_each() -> None:
    text = "SELECT auth.uid(), lower(name), auth.uid() FROM t WHERE f(g(1)) > 0"
    assert called_functions(text) == [("auth", "uid"), (None, "lower"), (None, "f"), (None, "g")]
    assert called_functions("not sql at all") == []


def read_annotations(text: str) -> list[tuple[str | None, tuple[tuple[str, str], ...]]]:
    path = Path("w.sql")
    return [parse_annotations(path, text, c) for _, c in split_with_comments(text)]


def test_name_and_settings_lines() -> None:
    text = (
        "-- name: my_orders\n"
        "-- role: authenticated\n"
        "-- set: request.jwt.claim.sub = 6c1e0b1a-1111-4b1e-9c1e-000000000001\n"
        "-- set: app.tenant='it''s'\n"
        "-- weight: 20\n"
        "SELECT 1;\n\n"
        "-- an ordinary comment\n"
        "SELECT 2;\n"
    )
    assert read_annotations(text) == [
        (
            "my_orders",
            (
                ("request.jwt.claim.sub", "6c1e0b1a-1111-4b1e-9c1e-000000000001"),
                ("app.tenant", "it's"),
            ),
        ),
        (None, ()),
    ]


def test_a_blank_line_detaches_the_comments() -> None:
    assert read_annotations("-- set: app.x = 1\n\nSELECT 1;\n") == [(None, ())]


def test_a_malformed_setting_names_the_line() -> None:
    with pytest.raises(UsageError, match=r"w.sql:3: expected '-- set: setting = value'"):
        read_annotations("SELECT 1;\n\n-- set: no value here\nSELECT 2;\n")
