"""Migration lint against a real database: sizes in messages come from the live catalog.

`orders` (50k rows, a few MB) is "large" because the tests lower the threshold to 1 MB;
`tiny` (a handful of rows) stays small. Lint only reads, so one module database serves all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.errors import TargetError
from prodready.migrate.lint import LintIssue, LintOptions, LintResult, lint_paths
from prodready.migrate.lint_render import render_json, render_sarif
from prodready.migrate.model import write_migrations
from prodready.units import human_bytes
from tests.conftest import TestDatabase
from tests.unit.test_migrate_lint import JUSTIFIED_WARNINGS, generated_shapes

MB = 1024 * 1024
SMALL = LintOptions(large_bytes=1 * MB, large_rows=10_000_000, assume_in_transaction=True)

SCHEMA = """
CREATE TABLE buyers (id bigint PRIMARY KEY);
INSERT INTO buyers SELECT g FROM generate_series(1, 1000) g;
CREATE TABLE orders (id serial PRIMARY KEY, buyer_id bigint, note varchar(20),
                     amount numeric(10,2));
INSERT INTO orders (buyer_id, note, amount)
  SELECT 1 + g % 1000, 'note ' || g, g FROM generate_series(1, 50000) g;
CREATE TABLE tiny (id int PRIMARY KEY, buyer_id bigint, note varchar(20));
INSERT INTO tiny SELECT g, g, 'x' FROM generate_series(1, 5) g;
CREATE TABLE proved (id int, buyer_id bigint,
                     CONSTRAINT buyer_present CHECK (buyer_id IS NOT NULL));
INSERT INTO proved SELECT g, g FROM generate_series(1, 50000) g;
CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events SELECT g, date '2024-01-01' + (g % 700) FROM generate_series(1, 40000) g;
CREATE TABLE messages (id int, owner uuid);
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS 'SELECT NULL::uuid';
CREATE POLICY p ON messages USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
CREATE VIEW v AS SELECT id FROM tiny;
CREATE FUNCTION f(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT $1';
CREATE INDEX x ON tiny (note);
ANALYZE;
"""


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


def lint_sql(tmp_path: Path, db: TestDatabase, text: str, name: str = "change.sql",
             options: LintOptions = SMALL) -> LintResult:  # fmt: skip
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return lint_paths([path], db.dsn, options)


def ours(result: LintResult) -> list[LintIssue]:
    return [i for i in result.issues if i.source == "prodready"]


def sizes(db: TestDatabase, table: str) -> tuple[int, int, int]:
    [(table_bytes, total_bytes, rows)] = db.query(
        "SELECT pg_table_size(%s::regclass), pg_total_relation_size(%s::regclass),"
        " reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
        (table, table, table),
    )
    return table_bytes, total_bytes, rows


def test_alter_column_type_on_a_large_table_reports_the_real_size(
    tmp_path: Path, shop: TestDatabase
) -> None:
    result = lint_sql(
        tmp_path, shop, "-- widen ids\nALTER TABLE orders ALTER COLUMN id TYPE bigint;"
    )
    [issue] = ours(result)
    _, total_bytes, rows = sizes(shop, "orders")
    assert (issue.rule, issue.level, issue.line) == ("table-rewrite", "error", 2)
    assert issue.message.startswith(
        f"ALTER COLUMN id TYPE bigint rewrites public.orders ({human_bytes(total_bytes)},"
        " ~50k rows) under ACCESS EXCLUSIVE (blocks reads and writes)"
    )
    assert issue.evidence["total_bytes"] == total_bytes and total_bytes > MB
    assert issue.evidence["rows_estimate"] == rows == 50_000
    assert issue.evidence["old_type"] == "integer"
    assert result.database is not None and result.server_version is not None
    assert result.has_errors


def test_create_index_and_foreign_key_on_a_large_table(tmp_path: Path, shop: TestDatabase) -> None:
    text = (
        "CREATE INDEX orders_buyer_idx ON orders (buyer_id);\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_buyer_fk FOREIGN KEY (buyer_id)"
        " REFERENCES buyers (id);\n"
    )
    index, fk = ours(lint_sql(tmp_path, shop, text))
    table_bytes, _, _ = sizes(shop, "orders")
    described = f"public.orders ({human_bytes(table_bytes)}, ~50k rows)"
    assert (index.rule, index.level, index.line) == ("blocking-index-build", "error", 1)
    assert index.message.startswith(f"CREATE INDEX builds over {described} under SHARE")
    assert (fk.rule, fk.level, fk.line) == ("constraint-full-scan", "error", 2)
    assert fk.message.startswith(
        f"ADD FOREIGN KEY scans {described} under SHARE ROW EXCLUSIVE (blocks writes, on"
        " public.buyers too)"
    )
    assert fk.evidence["table_bytes"] == table_bytes


def test_same_statements_on_a_small_table_are_silent(tmp_path: Path, shop: TestDatabase) -> None:
    text = (
        "ALTER TABLE tiny ALTER COLUMN id TYPE bigint;\n"
        "CREATE INDEX tiny_buyer_idx ON tiny (buyer_id);\n"
        "ALTER TABLE tiny ADD CONSTRAINT tiny_fk FOREIGN KEY (buyer_id) REFERENCES buyers (id);\n"
        "ALTER TABLE tiny ALTER COLUMN buyer_id SET NOT NULL;\n"
    )
    result = lint_sql(tmp_path, shop, text)
    assert ours(result) == []
    # squawk still says what it always says about these statements
    assert {"changing-column-type", "require-concurrent-index-creation"} <= {
        i.rule for i in result.issues
    }


def test_concurrently_and_not_valid_are_silent_on_a_large_table(
    tmp_path: Path, shop: TestDatabase
) -> None:
    up = (
        "-- 0001_safe (up): safe changes\n-- prodready:transactional=false\n\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_buyer_idx ON orders (buyer_id);\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_buyer_fk FOREIGN KEY (buyer_id)"
        " REFERENCES buyers (id) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_buyer_fk;\n"
        "ALTER TABLE orders ALTER COLUMN note TYPE varchar(40);\n"
        "ALTER TABLE orders ADD COLUMN created_at timestamptz DEFAULT now();\n"
    )
    result = lint_sql(tmp_path, shop, up, name="0001_safe.up.sql")
    assert ours(result) == []
    assert not result.has_errors


def test_volatile_default_and_set_not_null(tmp_path: Path, shop: TestDatabase) -> None:
    text = (
        "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\n"
        "ALTER TABLE orders ALTER COLUMN buyer_id SET NOT NULL;\n"
        "ALTER TABLE proved ALTER COLUMN buyer_id SET NOT NULL;\n"
    )
    rewrite, scan = ours(lint_sql(tmp_path, shop, text))
    assert rewrite.rule == "table-rewrite" and rewrite.line == 1
    assert rewrite.message.startswith("ADD COLUMN token with volatile default gen_random_uuid()")
    # proved's validated CHECK (buyer_id IS NOT NULL) lets PostgreSQL skip the scan
    assert (scan.rule, scan.line, scan.evidence["table"]) == (
        "set-not-null-full-scan", 2, "public.orders")  # fmt: skip


def test_partitioned_table_sums_its_partitions(tmp_path: Path, shop: TestDatabase) -> None:
    [issue] = ours(lint_sql(tmp_path, shop, "CREATE INDEX events_at ON events (at);"))
    parts = [sizes(shop, p) for p in ("events_2024", "events_2025")]
    assert issue.evidence["table_bytes"] == sum(p[0] for p in parts)
    assert issue.evidence["rows_estimate"] == 40_000 and issue.evidence["relkind"] == "p"
    assert "ON ONLY" in issue.help


def test_squawk_findings_come_with_sizes(tmp_path: Path, shop: TestDatabase) -> None:
    result = lint_sql(tmp_path, shop, "SELECT 1;\nCREATE INDEX orders_note_idx ON orders (note);\n")
    found = {(i.source, i.rule): i for i in result.issues}
    squawk = found[("squawk", "require-concurrent-index-creation")]
    assert (squawk.level, squawk.line, squawk.column) == ("warning", 2, 1)
    assert found[("prodready", "blocking-index-build")].level == "error"


def test_generated_migrations_lint_clean_against_the_database(
    tmp_path: Path, shop: TestDatabase
) -> None:
    write_migrations(tmp_path / "migrations", generated_shapes())
    result = lint_paths([tmp_path / "migrations"], shop.dsn, LintOptions())
    assert not result.has_errors
    assert sorted((i.path.name, i.rule) for i in result.issues) == JUSTIFIED_WARNINGS
    # at the default 1 GB threshold the review-required bigint change is squawk's warning
    # only; on a table over the threshold it is an error, which is the point of the review
    strict = lint_paths([tmp_path / "migrations"], shop.dsn, SMALL)
    assert [(i.path.name, i.rule, i.level) for i in ours(strict)] == [
        ("0007_bigint_orders_id.up.sql", "table-rewrite", "error")
    ]


def test_sarif_and_json_are_well_formed(tmp_path: Path, shop: TestDatabase) -> None:
    result = lint_sql(tmp_path, shop, "CREATE INDEX o ON orders (note);")
    log = render_sarif(result, root=tmp_path)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"blocking-index-build", "require-concurrent-index-creation"}
    assert all(r["help"]["text"] for r in rules)
    for res in run["results"]:
        location = res["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "change.sql"
        assert location["region"]["startLine"] == 1
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning")
    doc = render_json(result)
    assert doc["summary"]["errors"] == 1 and doc["database"]["server_version"]
    assert "password" not in str(doc)


def test_unreachable_database_is_a_target_error(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1;\n")
    dsn = "host=127.0.0.1 port=1 dbname=x user=u password=sekrit connect_timeout=2"
    with pytest.raises(TargetError) as caught:
        lint_paths([path], dsn, LintOptions())
    assert "sekrit" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


# Each statement, and whether PostgreSQL rewrites the table for it (a new relfilenode).
REWRITES = [
    ("ALTER TABLE {t} ALTER COLUMN i TYPE bigint", True),
    ("ALTER TABLE {t} ALTER COLUMN v TYPE varchar(40)", False),
    ("ALTER TABLE {t} ALTER COLUMN v TYPE varchar(10)", True),
    ("ALTER TABLE {t} ALTER COLUMN v TYPE text", False),
    ("ALTER TABLE {t} ALTER COLUMN n TYPE numeric(12,2)", False),
    ("ALTER TABLE {t} ALTER COLUMN n TYPE numeric(12,3)", True),
    ("ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz", False),  # the database runs in UTC
    ("ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz(0)", True),
    ("ALTER TABLE {t} ALTER COLUMN v TYPE varchar(40) USING upper(v)", True),
    ("ALTER TABLE {t} ADD COLUMN u uuid DEFAULT gen_random_uuid()", True),
    ("ALTER TABLE {t} ADD COLUMN c timestamptz DEFAULT now()", False),
    ("ALTER TABLE {t} ADD COLUMN s bigserial", True),
    ("ALTER TABLE {t} ADD COLUMN k int DEFAULT 0 NOT NULL", False),
]


def test_rewrite_predictions_match_postgres(tmp_path: Path, fresh_db: TestDatabase) -> None:
    """Lint each statement, run it, and compare with PostgreSQL: a rewrite swaps the file."""
    fresh_db.execute(f"ALTER DATABASE {fresh_db.name} SET timezone = 'UTC'")
    every_table = LintOptions(large_bytes=1)
    for n, (template, rewrites) in enumerate(REWRITES):
        table = f"r{n}"
        fresh_db.execute(
            f"CREATE TABLE {table} (i int, v varchar(20), n numeric(10,2), ts timestamp);"
            f"INSERT INTO {table} VALUES (1, 'a', 1.5, '2024-01-01')"
        )
        statement = template.format(t=table)
        predicted = [i.rule for i in ours(lint_sql(tmp_path, fresh_db, statement + ";",
                                                   options=every_table))]  # fmt: skip
        [(before,)] = fresh_db.query("SELECT pg_relation_filenode(%s)", (table,))
        fresh_db.execute(statement)
        [(after,)] = fresh_db.query("SELECT pg_relation_filenode(%s)", (table,))
        assert (before != after) is rewrites, statement
        assert predicted == (["table-rewrite"] if rewrites else []), statement
