"""Migration lint without a database: file handling, statement positions, prodready's rules
over hand-built catalog facts, squawk's JSON (the real squawk binary), and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prodready.errors import UsageError
from prodready.migrate import lint_rules as rules
from prodready.migrate.lint import (
    LintedFile,
    LintIssue,
    LintOptions,
    LintResult,
    find_sql_files,
    lint_paths,
    our_issues,
    read_sql_file,
)
from prodready.migrate.lint_render import render_json, render_sarif, render_terminal
from prodready.migrate.model import Migration, write_migrations

MB = 1024 * 1024
INT4, INT8, TEXT, VARCHAR, NUMERIC = 23, 20, 25, 1043, 1700
TIMESTAMP, TIMESTAMPTZ = 1114, 1184


@dataclass
class FakeCatalog:
    """Hand-built catalog facts, keyed the way migrations name things."""

    relations: dict[str, rules.Relation] = field(default_factory=dict)
    columns: dict[tuple[str, str], rules.Column] = field(default_factory=dict)
    volatile: dict[str, str] = field(default_factory=dict)
    checks: dict[str, frozenset[str]] = field(default_factory=dict)
    # (type name as looked up, old oid) -> target
    types: dict[tuple[str, int], rules.TypeTarget] = field(default_factory=dict)
    utc: bool = False

    def relation(self, schema: str | None, name: str) -> rules.Relation | None:
        return self.relations.get(f"{schema or 'public'}.{name}")

    def column(self, relation: rules.Relation, column: str) -> rules.Column | None:
        return self.columns.get((relation.qualified, column))

    def type_target(self, type_name: str, old_type_oid: int) -> rules.TypeTarget | None:
        return self.types.get((type_name, old_type_oid))

    def volatility(self, function: tuple[str, ...]) -> str | None:
        return self.volatile.get(function[-1])

    def not_null_checked(self, relation: rules.Relation) -> frozenset[str]:
        return self.checks.get(relation.qualified, frozenset())

    def utc_session(self) -> bool:
        return self.utc


def relation(name: str, table_mb: float, rows: float | None, kind: str = "r") -> rules.Relation:
    table = int(table_mb * MB)
    return rules.Relation("public", name, kind, rows, table, table + table // 4)


def catalog() -> FakeCatalog:
    """orders is large for a 10 MB threshold (40 MB, 500k rows); tiny is not."""
    cat = FakeCatalog(
        relations={
            "public.orders": relation("orders", 40, 500_000),
            "public.buyers": relation("buyers", 0.5, 2_000),
            "public.tiny": relation("tiny", 0.01, 10),
        },
        volatile={"now": "s", "my_stable_fn": "s", "random": "v"},
    )
    for table in ("orders", "tiny"):
        q = f"public.{table}"
        cat.columns[(q, "id")] = rules.Column(INT4, "int4", -1, "integer", True)
        cat.columns[(q, "note")] = rules.Column(
            VARCHAR, "varchar", 24, "character varying(20)", False
        )
        cat.columns[(q, "amount")] = rules.Column(NUMERIC, "numeric", (10 << 16 | 2) + 4,
                                                  "numeric(10,2)", False)  # fmt: skip
        cat.columns[(q, "buyer_id")] = rules.Column(INT8, "int8", -1, "bigint", False)
        cat.columns[(q, "at")] = rules.Column(TIMESTAMP, "timestamp", -1, "timestamp", False)
    cat.types = {
        ('"pg_catalog"."int8"', INT4): rules.TypeTarget(INT8, "int8", False),
        ('"pg_catalog"."varchar"', VARCHAR): rules.TypeTarget(VARCHAR, "varchar", True),
        ('"text"', VARCHAR): rules.TypeTarget(TEXT, "text", True),
        ('"pg_catalog"."numeric"', NUMERIC): rules.TypeTarget(NUMERIC, "numeric", True),
        ('"timestamptz"', TIMESTAMP): rules.TypeTarget(TIMESTAMPTZ, "timestamptz", False),
    }
    return cat


def write(tmp_path: Path, text: str, name: str = "m.sql") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lint_text(
    tmp_path: Path,
    text: str,
    cat: FakeCatalog | None = None,
    *,
    name: str = "m.sql",
    options: LintOptions | None = None,
) -> list[LintIssue]:
    """prodready's rules only (no squawk) over one file, with the fake catalog."""
    options = options or LintOptions(large_bytes=10 * MB, large_rows=1_000_000,
                                     assume_in_transaction=True)  # fmt: skip
    file = read_sql_file(write(tmp_path, text, name), options)
    return our_issues([file], catalog() if cat is None else cat, options)


def rules_of(issues: list[LintIssue]) -> list[tuple[str, str, int]]:
    return [(i.rule, i.level, i.line) for i in issues]


# -- files and positions --


def test_statement_positions_skip_comments_and_blank_lines(tmp_path: Path) -> None:
    text = (
        "-- header\n\n/* block\n comment */  SELECT 1;\n\n  -- c\n  CREATE INDEX i\n  ON t (a);\n"
    )
    file = read_sql_file(write(tmp_path, text), LintOptions())
    first, second = file.statements
    assert (first.line, first.column, first.end_line) == (4, 14, 4)
    assert (second.line, second.column, second.end_line, second.end_column) == (7, 3, 8, 11)


def test_unparseable_sql_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "SELECT 1;\n\nSELEC 2;\n")
    with pytest.raises(UsageError, match=r"m\.sql:3: not valid SQL \(syntax error at or near"):
        read_sql_file(path, LintOptions())


def test_truncated_sql_points_at_the_last_line(tmp_path: Path) -> None:
    path = write(tmp_path, "SELECT 1;\nCREATE TABLE t (\n  a int\n")
    with pytest.raises(UsageError, match=r"m\.sql:3: not valid SQL \(syntax error at end"):
        read_sql_file(path, LintOptions())


def test_not_sql_at_all_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "# Title\n\nSome prose.\n", "README.md")
    with pytest.raises(UsageError, match=r"README\.md:1: not valid SQL"):
        read_sql_file(path, LintOptions())
    binary = tmp_path / "blob.sql"
    binary.write_bytes(b"\xff\xfe\x00SELECT")
    with pytest.raises(UsageError, match=r"blob\.sql: not UTF-8 text"):
        read_sql_file(binary, LintOptions())


def test_missing_path_and_empty_directory_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.sql does not exist"):
        find_sql_files([tmp_path / "nope.sql"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"holds no \.sql files"):
        find_sql_files([tmp_path / "empty"])
    with pytest.raises(UsageError, match="no migration files"):
        find_sql_files([])


def test_directories_recurse_sorted_skip_hidden_and_dedupe(tmp_path: Path) -> None:
    b = write(tmp_path, "SELECT 1;", "migrations/20240102_b/migration.sql")
    a = write(tmp_path, "SELECT 1;", "migrations/20240101_a/migration.sql")
    write(tmp_path, "SELECT 1;", "migrations/.cache/x.sql")
    write(tmp_path, "not sql", "migrations/notes.txt")
    found = find_sql_files([tmp_path / "migrations", a])
    assert found == [a, b]


@pytest.mark.parametrize(
    ("name", "text", "assume", "expected", "ours"),
    [
        ("0001_x.up.sql", "-- 0001_x (up): add\nSELECT 1;", False, True, True),
        ("0001_x.up.sql", "-- prodready:transactional=false\nSELECT 1;", True, False, True),
        ("000001_x.up.sql", "SELECT 1;", False, False, False),  # golang-migrate's naming
        ("app.sql", "SELECT 1;", False, False, False),
        ("app.sql", "SELECT 1;", True, True, False),
        ("app.sql", "-- prodready:transactional=false\nSELECT 1;", True, False, False),
        ("app.sql", "-- prodready:transactional=true\nSELECT 1;", False, True, False),
    ],
)
def test_transactional_follows_directive_then_ours_then_option(
    tmp_path: Path, name: str, text: str, assume: bool, expected: bool, ours: bool
) -> None:
    file = read_sql_file(write(tmp_path, text, name), LintOptions(assume_in_transaction=assume))
    assert file.transactional is expected
    assert file.ours is ours


def test_a_hand_written_file_in_our_directory_is_ours(tmp_path: Path) -> None:
    write(tmp_path, "-- 0001_a (up): generated\nSELECT 1;", "m/0001_a.up.sql")
    write(tmp_path, "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "m/0002_b.up.sql")
    write(tmp_path, "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "g/000002_b.up.sql")
    result = lint_paths([tmp_path / "m", tmp_path / "g"], None, LintOptions())
    assert [f.ours for f in result.files] == [True, True, False]
    # prodready apply would run 0002_b in a transaction; golang-migrate runs it alone
    assert [(i.rule, i.path.name) for i in result.issues if i.level == "error"] == [
        ("cannot-run-in-transaction", "0002_b.up.sql")
    ]


# -- cannot-run-in-transaction --


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("CREATE INDEX CONCURRENTLY i ON orders (a)", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY IF EXISTS i", "DROP INDEX CONCURRENTLY"),
        ("REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY"),
        ("VACUUM (ANALYZE) orders", "VACUUM"),
        ("ALTER SYSTEM SET work_mem = '8MB'", "ALTER SYSTEM"),
        ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", "DETACH PARTITION CONCURRENTLY"),
        ("CREATE DATABASE x", "CREATE DATABASE"),
    ],
)
def test_statements_refused_in_a_transaction_fire_in_our_transactional_file(
    tmp_path: Path, statement: str, what: str
) -> None:
    [issue] = lint_text(tmp_path, f"-- 0001_x (up): x\n\n{statement};\n", FakeCatalog(),
                        name="0001_x.up.sql")  # fmt: skip
    assert (issue.rule, issue.level, issue.line, issue.source) == (
        "cannot-run-in-transaction", "error", 3, "prodready")  # fmt: skip
    assert issue.message.startswith(what)
    assert "prodready:transactional=false" in issue.help


@pytest.mark.parametrize(
    ("text", "name", "assume"),
    [
        ("-- prodready:transactional=false\nCREATE INDEX CONCURRENTLY i ON t (a);", "0001_x.up.sql",
         True),
        ("CREATE INDEX CONCURRENTLY i ON t (a);", "app.sql", False),
        ("-- 0001_x (up): x\nANALYZE orders; REINDEX (CONCURRENTLY false) INDEX i;",
         "0001_x.up.sql", False),
    ],
)  # fmt: skip
def test_refused_statements_are_silent_outside_a_transaction(
    tmp_path: Path, text: str, name: str, assume: bool
) -> None:
    options = LintOptions(assume_in_transaction=assume)
    assert [i.rule for i in lint_text(tmp_path, text, FakeCatalog(), name=name,
                                      options=options)] == []  # fmt: skip


# -- table-rewrite --


def test_alter_column_type_int_to_bigint_rewrites_a_large_table(tmp_path: Path) -> None:
    [issue] = lint_text(tmp_path, "SELECT 1;\nALTER TABLE orders ALTER COLUMN id TYPE bigint;")
    assert (issue.rule, issue.level, issue.line, issue.column) == ("table-rewrite", "error", 2, 1)
    assert issue.message == (
        "ALTER COLUMN id TYPE bigint rewrites public.orders (50.0 MB, ~500k rows) under "
        "ACCESS EXCLUSIVE (blocks reads and writes), ~1 s at ~50 MB/s"
    )
    ev = issue.evidence
    assert ev["table"] == "public.orders" and ev["rows_estimate"] == 500_000
    assert ev["work_bytes"] == 50 * MB and ev["lock"] == "ACCESS EXCLUSIVE"
    assert ev["old_type"] == "integer" and ev["new_type"] == "bigint" and ev["rewrites"] is True
    assert ev["estimated_seconds"] == 1.0 and ev["assumed_mb_per_s"] == 50


@pytest.mark.parametrize(
    "change",
    [
        "note TYPE varchar(40)",  # longer varchar: relabel
        "note TYPE varchar",  # unlimited varchar
        "note TYPE text",  # binary-coercible
        "amount TYPE numeric(12,2)",  # more precision, same scale
        "amount TYPE numeric",  # unconstrained
        "note TYPE varchar(20) USING note",  # the default conversion spelled out
    ],
)
def test_type_changes_postgres_relabels_are_silent(tmp_path: Path, change: str) -> None:
    assert lint_text(tmp_path, f"ALTER TABLE orders ALTER COLUMN {change};") == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("note TYPE varchar(10)", "length/precision changed"),
        ("amount TYPE numeric(12,3)", "length/precision changed"),
        ("note TYPE varchar(40) USING upper(note)", "USING expression"),
        ("missing TYPE text", "column not found in the database"),
        ("id TYPE widget", "type not resolvable"),
    ],
)
def test_type_changes_that_rewrite(tmp_path: Path, change: str, reason: str) -> None:
    [issue] = lint_text(tmp_path, f"ALTER TABLE orders ALTER COLUMN {change};")
    assert issue.rule == "table-rewrite" and issue.evidence["reason"] == reason


def test_timestamp_to_timestamptz_rewrites_unless_the_session_is_utc(tmp_path: Path) -> None:
    text = "ALTER TABLE orders ALTER COLUMN at TYPE timestamptz;"
    [issue] = lint_text(tmp_path, text)
    assert issue.evidence["reason"] == "type conversion"
    utc = catalog()
    utc.utc = True
    assert lint_text(tmp_path, text, utc) == []
    assert len(lint_text(tmp_path, text.replace(";", "(3);"), utc)) == 1  # precision cut


def test_if_not_exists_on_existing_objects_is_silent(tmp_path: Path) -> None:
    cat = catalog()
    cat.relations["public.orders_b"] = relation("orders_b", 10, 500_000, kind="i")
    cat.columns[("public.orders", "u")] = rules.Column(2950, "uuid", -1, "uuid", False)
    text = (
        "CREATE INDEX IF NOT EXISTS orders_b ON orders (buyer_id);\n"
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS u uuid DEFAULT gen_random_uuid();\n"
    )
    assert lint_text(tmp_path, text, cat) == []
    assert [i.line for i in lint_text(tmp_path, text)] == [1, 2]  # neither exists yet


def test_table_created_by_an_earlier_file_is_sized_from_the_database(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    first = read_sql_file(write(tmp_path, "CREATE TABLE orders (id int);", "a.sql"), options)
    second = read_sql_file(write(tmp_path, "CREATE INDEX o ON orders (id);", "b.sql"), options)
    # a.sql ran long ago (the database has orders, with data): b.sql's build is real
    assert [i.path.name for i in our_issues([first, second], catalog(), options)] == ["b.sql"]


def test_one_statement_rewrites_once(tmp_path: Path) -> None:
    text = "ALTER TABLE orders ALTER COLUMN id TYPE bigint, ADD COLUMN u uuid DEFAULT uuidv7();"
    [issue] = lint_text(tmp_path, text)
    assert issue.message.endswith("(one rewrite, also for 1 more change(s))")
    assert issue.evidence["column"] == "id" and issue.evidence["also"] == ["u"]


def test_small_table_is_silent_and_medium_table_warns(tmp_path: Path) -> None:
    assert lint_text(tmp_path, "ALTER TABLE tiny ALTER COLUMN id TYPE bigint;") == []
    cat = catalog()
    cat.relations["public.orders"] = relation("orders", 1.5, 2_000)  # 1.9 MB of 10 MB
    [issue] = lint_text(tmp_path, "ALTER TABLE orders ALTER COLUMN id TYPE bigint;", cat)
    assert issue.level == "warning"


def test_many_rows_make_a_table_large_even_when_small_on_disk(tmp_path: Path) -> None:
    cat = catalog()
    cat.relations["public.orders"] = relation("orders", 0.5, 2_000_000)
    [issue] = lint_text(tmp_path, "ALTER TABLE orders ALTER COLUMN id TYPE bigint;", cat)
    assert issue.level == "error" and "~2M rows" in issue.message


def test_never_analyzed_table_says_rows_unknown(tmp_path: Path) -> None:
    cat = catalog()
    cat.relations["public.orders"] = relation("orders", 40, None)
    [issue] = lint_text(tmp_path, "VACUUM FULL orders;", cat,
                        options=LintOptions(large_bytes=10 * MB))  # fmt: skip
    assert "row count unknown: never analyzed" in issue.message
    assert issue.evidence["rows_estimate"] is None


@pytest.mark.parametrize(
    ("column", "why"),
    [
        ("u uuid DEFAULT gen_random_uuid()", "volatile default gen_random_uuid()"),
        ("r float8 DEFAULT random() * 10", "volatile default random()"),
        ("t timestamptz DEFAULT clock_timestamp()", "volatile default clock_timestamp()"),
        ("n bigserial", "bigserial (a sequence value per row)"),
        (
            "n bigint GENERATED ALWAYS AS IDENTITY",
            "GENERATED AS IDENTITY (a sequence value per row)",
        ),
        ("g int GENERATED ALWAYS AS (id * 2) STORED", "a STORED generated expression"),
    ],
)
def test_add_column_filling_every_row_rewrites(tmp_path: Path, column: str, why: str) -> None:
    [issue] = lint_text(tmp_path, f"ALTER TABLE orders ADD COLUMN {column};")
    assert issue.rule == "table-rewrite" and issue.level == "error"
    assert issue.message.startswith(f"ADD COLUMN {column.split()[0]} with {why} rewrites")


@pytest.mark.parametrize(
    "column",
    [
        "t timestamptz DEFAULT now()",  # stable: PostgreSQL 11+ stores it once
        "s text DEFAULT 'new'",
        "c int NOT NULL DEFAULT 0",
        "x int",
        "m int DEFAULT my_stable_fn()",  # the catalog says stable
        "y int DEFAULT unknown_fn()",  # not in the catalog, not known volatile
    ],
)
def test_add_column_with_a_non_volatile_default_is_silent(tmp_path: Path, column: str) -> None:
    assert lint_text(tmp_path, f"ALTER TABLE orders ADD COLUMN {column};") == []


def test_catalog_volatility_beats_the_known_list(tmp_path: Path) -> None:
    cat = catalog()
    cat.volatile["random"] = "s"  # a schema's own stable random(), say
    assert (
        lint_text(tmp_path, "ALTER TABLE orders ADD COLUMN r float8 DEFAULT random();", cat) == []
    )


@pytest.mark.parametrize(
    ("statement", "start"),
    [
        ("VACUUM (FULL, ANALYZE) orders", "VACUUM FULL rewrites public.orders"),
        ("CLUSTER orders USING orders_pkey", "CLUSTER rewrites public.orders"),
        ("ALTER TABLE orders SET LOGGED", "SET LOGGED rewrites public.orders"),
        (
            "ALTER TABLE orders SET TABLESPACE slow",
            "SET TABLESPACE slow copies public.orders (40.0 MB",
        ),
    ],
)
def test_other_rewrites(tmp_path: Path, statement: str, start: str) -> None:
    options = LintOptions(large_bytes=10 * MB)  # not in a transaction: VACUUM is allowed
    [issue] = lint_text(tmp_path, f"{statement};", options=options)
    assert issue.rule == "table-rewrite" and issue.message.startswith(start)


def test_vacuum_without_full_and_cluster_without_table_are_silent(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    assert lint_text(tmp_path, "VACUUM (FULL false) orders; VACUUM orders; CLUSTER;",
                     options=options) == []  # fmt: skip


# -- blocking-index-build --


def test_create_index_without_concurrently_on_a_large_table(tmp_path: Path) -> None:
    [issue] = lint_text(tmp_path, "CREATE INDEX orders_b ON orders (buyer_id);")
    assert (issue.rule, issue.level) == ("blocking-index-build", "error")
    assert issue.message == (
        "CREATE INDEX builds over public.orders (40.0 MB, ~500k rows) under SHARE "
        "(blocks writes), <1 s at ~50 MB/s"
    )
    assert issue.evidence["index"] == "orders_b" and "CONCURRENTLY" in issue.help


def test_index_builds_silent_when_concurrent_small_or_new(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    text = (
        "CREATE INDEX CONCURRENTLY a ON orders (buyer_id);\n"
        "CREATE INDEX b ON tiny (id);\n"
        "CREATE TABLE fresh (id int);\n"
        "CREATE INDEX c ON fresh (id);\n"
        "CREATE INDEX d ON nowhere (id);\n"
    )
    assert lint_text(tmp_path, text, options=options) == []


def test_reindex_without_concurrently(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    text = "REINDEX TABLE orders;\nREINDEX TABLE CONCURRENTLY orders;\nREINDEX SCHEMA public;\n"
    [issue] = lint_text(tmp_path, text, options=options)
    assert issue.line == 1 and issue.rule == "blocking-index-build"
    assert issue.message.startswith("REINDEX builds over public.orders (50.0 MB, ~500k rows)")
    assert "blocks writes and reads" in issue.message


def test_primary_key_without_using_index_builds_under_access_exclusive(tmp_path: Path) -> None:
    text = (
        "ALTER TABLE orders ADD PRIMARY KEY (id);\n"
        "ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_u;\n"
    )
    [issue] = lint_text(tmp_path, text)
    assert issue.line == 1 and issue.message.startswith("ADD PRIMARY KEY builds over")
    assert issue.evidence["lock"] == "ACCESS EXCLUSIVE" and "USING INDEX" in issue.help


def test_partitioned_table_index_help_explains_on_only(tmp_path: Path) -> None:
    cat = catalog()
    cat.relations["public.events"] = relation("events", 80, 1e6, kind="p")
    [issue] = lint_text(tmp_path, "CREATE INDEX e ON events (id);", cat)
    assert "ON ONLY" in issue.help


# -- constraint-full-scan --


def test_foreign_key_without_not_valid_scans_under_lock(tmp_path: Path) -> None:
    sql_text = "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (buyer_id) REFERENCES buyers (id);"
    [issue] = lint_text(tmp_path, sql_text)
    assert (issue.rule, issue.level) == ("constraint-full-scan", "error")
    assert issue.message == (
        "ADD FOREIGN KEY scans public.orders (40.0 MB, ~500k rows) under SHARE ROW EXCLUSIVE "
        "(blocks writes, on public.buyers too), <1 s at ~100 MB/s"
    )
    assert issue.evidence["constraint"] == "fk" and issue.evidence["scans"] is True


def test_check_without_not_valid_scans_under_access_exclusive(tmp_path: Path) -> None:
    [issue] = lint_text(tmp_path, "ALTER TABLE orders ADD CONSTRAINT c CHECK (id > 0);")
    assert issue.evidence["lock"] == "ACCESS EXCLUSIVE"


def test_not_valid_then_validate_in_another_file_is_silent(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    cat = catalog()
    first = read_sql_file(write(tmp_path, "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY"
                                " (buyer_id) REFERENCES buyers (id) NOT VALID;", "0001_a.up.sql"),
                          options)  # fmt: skip
    second = read_sql_file(write(tmp_path, "ALTER TABLE orders VALIDATE CONSTRAINT fk;",
                                 "0002_b.up.sql"), options)  # fmt: skip
    assert our_issues([first, second], cat, options) == []


def test_validate_in_the_same_transaction_keeps_the_strong_lock(tmp_path: Path) -> None:
    text = (
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (id > 0) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT c;\n"
    )
    [issue] = lint_text(tmp_path, text, name="0001_x.up.sql")
    assert issue.line == 2 and issue.rule == "constraint-full-scan"
    assert issue.message.startswith(
        "VALIDATE CONSTRAINT c in the same transaction as its ADD CHECK scans public.orders"
    )
    notx = "-- prodready:transactional=false\n" + text
    assert lint_text(tmp_path, notx, name="0001_x.up.sql") == []


# -- set-not-null-full-scan --


def test_set_not_null_scans_a_large_table(tmp_path: Path) -> None:
    [issue] = lint_text(tmp_path, "ALTER TABLE orders ALTER COLUMN buyer_id SET NOT NULL;")
    assert (issue.rule, issue.level) == ("set-not-null-full-scan", "error")
    assert issue.message.startswith("SET NOT NULL on buyer_id scans public.orders (40.0 MB")
    assert "CHECK (col IS NOT NULL) NOT VALID" in issue.help


def test_set_not_null_silent_when_a_validated_check_proves_it(tmp_path: Path) -> None:
    cat = catalog()
    cat.checks["public.orders"] = frozenset({"buyer_id"})
    assert lint_text(tmp_path, "ALTER TABLE orders ALTER COLUMN buyer_id SET NOT NULL;", cat) == []


def test_set_not_null_silent_when_already_not_null(tmp_path: Path) -> None:
    assert lint_text(tmp_path, "ALTER TABLE orders ALTER COLUMN id SET NOT NULL;") == []


def test_set_not_null_after_check_validated_in_earlier_migrations(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    texts = [
        "ALTER TABLE orders ADD CONSTRAINT nn CHECK (buyer_id IS NOT NULL) NOT VALID;",
        "ALTER TABLE public.orders VALIDATE CONSTRAINT nn;",
        "ALTER TABLE orders ALTER COLUMN buyer_id SET NOT NULL;",
    ]
    files = [read_sql_file(write(tmp_path, t, f"000{n}_s.up.sql"), options)
             for n, t in enumerate(texts, start=1)]  # fmt: skip
    assert our_issues(files, catalog(), options) == []
    # without the VALIDATE, the CHECK proves nothing yet
    assert [i.rule for i in our_issues([files[0], files[2]], catalog(), options)] == [
        "set-not-null-full-scan"
    ]


def test_down_files_do_not_leak_into_later_migrations(tmp_path: Path) -> None:
    options = LintOptions(large_bytes=10 * MB)
    down = read_sql_file(write(tmp_path, "ALTER TABLE orders ADD CONSTRAINT nn CHECK "
                               "(buyer_id IS NOT NULL);", "0001_s.down.sql"), options)  # fmt: skip
    later = read_sql_file(write(tmp_path, "ALTER TABLE orders ALTER COLUMN buyer_id SET NOT NULL;",
                                "0002_t.up.sql"), options)  # fmt: skip
    found = our_issues([down, later], catalog(), options)
    assert [(i.rule, i.path.name) for i in found] == [
        ("constraint-full-scan", "0001_s.down.sql"),
        ("set-not-null-full-scan", "0002_t.up.sql"),
    ]


@pytest.mark.parametrize(
    ("definition", "columns"),
    [
        ("CHECK ((buyer_id IS NOT NULL))", {"buyer_id"}),
        ('CHECK (((a IS NOT NULL) AND (b > 0) AND ("C" IS NOT NULL)))', {"a", "C"}),
        ("CHECK (((a IS NOT NULL) OR (b IS NOT NULL)))", set()),
        ("CHECK ((a > 0)) NO INHERIT", set()),
        ("FOREIGN KEY (a) REFERENCES b(id)", set()),
    ],
)
def test_check_definition_columns(definition: str, columns: set[str]) -> None:
    assert rules.check_definition_columns(definition) == columns


# -- helpers --


@pytest.mark.parametrize(
    ("rows", "text"),
    [(None, "row count unknown: never analyzed"), (7, "~7 rows"), (50_000, "~50k rows"),
     (1_234_567, "~1.2M rows"), (41e6, "~41M rows"), (2e9, "~2B rows")],
)  # fmt: skip
def test_human_rows(rows: float | None, text: str) -> None:
    assert rules.human_rows(rows) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "<1 s"), (41, "~41 s"), (240, "~4 min"), (3 * 3600, "~3.0 h")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert rules.human_duration(seconds) == text


def test_typmod_rules_match_postgres() -> None:
    varchar = lambda n: n + 4  # noqa: E731
    numeric = lambda p, s: (p << 16 | s) + 4  # noqa: E731
    assert rules.typmod_widens("varchar", varchar(20), varchar(40))
    assert not rules.typmod_widens("varchar", varchar(20), varchar(10))
    assert not rules.typmod_widens("varchar", -1, varchar(10))
    assert rules.typmod_widens("numeric", numeric(10, 2), numeric(12, 2))
    assert not rules.typmod_widens("numeric", numeric(10, 2), numeric(12, 3))
    assert rules.typmod_widens("timestamptz", 3, -1)
    assert not rules.typmod_widens("timestamptz", -1, 3)
    assert not rules.typmod_widens("int4", -1, -1)


# -- squawk (the real binary) and the whole pipeline --


def test_squawk_findings_are_parsed_with_one_based_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "-- a user's migration\nCREATE INDEX orders_b ON orders (buyer_id);\n")
    result = lint_paths([path], None, LintOptions())
    found = {i.rule: i for i in result.issues}
    issue = found["require-concurrent-index-creation"]
    assert (issue.source, issue.level, issue.line, issue.column) == ("squawk", "warning", 2, 1)
    assert issue.path == path and "concurrently" in issue.help
    # not ours: squawk's timeout rules stay on
    assert "require-lock-timeout" in found
    assert result.notes == ["size rules skipped: no database given (--db DSN) to size tables"]
    assert not result.has_errors


def test_squawk_rules_can_be_excluded(tmp_path: Path) -> None:
    path = write(tmp_path, "CREATE INDEX orders_b ON orders (buyer_id);\n")
    options = LintOptions(exclude=("require-concurrent-index-creation", "require-lock-timeout"))
    rules_found = {i.rule for i in lint_paths([path], None, options).issues}
    assert not rules_found & {"require-concurrent-index-creation", "require-lock-timeout"}
    assert "require-statement-timeout" in rules_found


def test_excluding_our_rules_and_unknown_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\n")
    options = LintOptions(assume_in_transaction=True, exclude=("cannot-run-in-transaction",))
    assert "cannot-run-in-transaction" not in {
        i.rule for i in lint_paths([path], None, options).issues
    }
    with pytest.raises(UsageError, match=r"squawk failed: .*invalid rule name no-such-rule"):
        lint_paths([path], None, LintOptions(exclude=("no-such-rule",)))


def test_concurrently_in_our_transactional_file_is_one_error(tmp_path: Path) -> None:
    text = (
        "-- 0001_x (up): x\n\nSELECT 1;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (a);\n"
    )
    path = write(tmp_path, text, "0001_x.up.sql")
    result = lint_paths([path], None, LintOptions())
    # squawk reports the same thing as ban-concurrent-index-creation-in-transaction; ours stays
    assert rules_of(result.issues) == [("cannot-run-in-transaction", "error", 4)]
    assert result.has_errors


def test_squawk_missing_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "SELECT 1;\n")
    with pytest.raises(UsageError, match="pip install squawk-cli"):
        lint_paths([path], None, LintOptions(squawk=str(tmp_path / "no-squawk")))


def generated_shapes() -> list[Migration]:
    """The migrations `prodready fix` writes (ISSUE4.md), one of each kind."""
    index = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_buyer_id_idx" ON "public"."orders" ("buyer_id")'  # noqa: E501
    drop = 'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_buyer_id_idx"'
    return [
        Migration(1, "add_index_orders_buyer_id", index, drop, transactional=False,
                  header=("unindexed_foreign_key: public.orders (buyer_id)", "seq scans: 1200")),
        Migration(2, "drop_index_x", 'DROP INDEX CONCURRENTLY IF EXISTS "public"."x"',
                  'CREATE INDEX CONCURRENTLY IF NOT EXISTS "x" ON "public"."orders" USING btree '
                  '("note")', transactional=False),
        Migration(3, "secure_f", 'ALTER FUNCTION "public"."f"(bigint) SET search_path = \'\'',
                  'ALTER FUNCTION "public"."f"(bigint) RESET search_path'),
        Migration(4, "enable_rls_messages",
                  'ALTER TABLE "public"."messages" ENABLE ROW LEVEL SECURITY',
                  'ALTER TABLE "public"."messages" DISABLE ROW LEVEL SECURITY'),
        Migration(5, "rewrite_policy_p",
                  'ALTER POLICY "p" ON "public"."messages" USING ((owner = (SELECT auth.uid())))'
                  ' WITH CHECK ((owner = (SELECT auth.uid())))',
                  'ALTER POLICY "p" ON "public"."messages" USING ((owner = auth.uid()))'
                  ' WITH CHECK ((owner = auth.uid()))'),
        Migration(6, "security_invoker_v",
                  'ALTER VIEW "public"."v" SET (security_invoker = true)',
                  'ALTER VIEW "public"."v" RESET (security_invoker)'),
        Migration(7, "bigint_orders_id",
                  'ALTER TABLE "public"."orders" ALTER COLUMN "id" TYPE bigint;\n'
                  'ALTER SEQUENCE "public"."orders_id_seq" AS bigint',
                  'ALTER SEQUENCE "public"."orders_id_seq" AS integer;\n'
                  'ALTER TABLE "public"."orders" ALTER COLUMN "id" TYPE integer',
                  review_required=True),
        Migration(8, "log_min_duration_statement",
                  "ALTER SYSTEM SET log_min_duration_statement = '500ms';\nSELECT pg_reload_conf()",
                  "ALTER SYSTEM RESET log_min_duration_statement;\nSELECT pg_reload_conf()",
                  transactional=False),
    ]  # fmt: skip


# The only warnings our own migrations may carry, and why each is honest: the bigint change
# really rewrites the table under ACCESS EXCLUSIVE (it is review-required for that reason),
# and its down restores the original 32-bit type on purpose.
JUSTIFIED_WARNINGS = [
    ("0007_bigint_orders_id.down.sql", "changing-column-type"),
    ("0007_bigint_orders_id.down.sql", "prefer-bigint-over-int"),
    ("0007_bigint_orders_id.up.sql", "changing-column-type"),
]


def test_generated_migrations_lint_clean_without_a_database(tmp_path: Path) -> None:
    write_migrations(tmp_path / "m", generated_shapes())
    result = lint_paths([tmp_path / "m"], None, LintOptions())
    assert not result.has_errors
    assert sorted((i.path.name, i.rule) for i in result.issues) == JUSTIFIED_WARNINGS
    assert len(result.files) == 16
    assert [f.transactional for f in result.files[:4]] == [False, False, False, False]


# -- renderers --


def sample_result(tmp_path: Path) -> LintResult:
    path = tmp_path / "db" / "0001_x.up.sql"
    issues = [
        LintIssue("table-rewrite", "error", path, 3, 1, "ALTER COLUMN id TYPE bigint rewrites "
                  "public.orders (3.2 GB, ~41M rows) under ACCESS EXCLUSIVE", "Backfill.",
                  "prodready", {"table": "public.orders", "total_bytes": 3},
                  end_line=3, end_column=40),
        LintIssue("require-concurrent-index-creation", "warning", path, 5, 1, "Use concurrently",
                  "Use `concurrently` to avoid blocking writes.", "squawk",
                  {"docs": "https://squawkhq.com/docs/require-concurrent-index-creation"}),
    ]  # fmt: skip
    return LintResult(
        issues=issues,
        files=[LintedFile(path, True, True, 2)],
        notes=["a note"],
        options=LintOptions(),
        squawk_version="2.70.0",
        database="127.0.0.1:5432/app",
        server_version="15.4",
    )


def test_terminal_lists_issues_and_summary(tmp_path: Path) -> None:
    text = render_terminal(sample_result(tmp_path))
    lines = text.splitlines()
    assert lines[0] == (
        f"{tmp_path}/db/0001_x.up.sql:3:1: error [prodready/table-rewrite] ALTER COLUMN id TYPE"
        " bigint rewrites public.orders (3.2 GB, ~41M rows) under ACCESS EXCLUSIVE"
    )
    assert lines[1] == "    help: Backfill."
    assert (
        "1 file linted: 1 error, 1 warning (squawk 2.70.0; tables sized on 127.0.0.1:5432/app "
        "(PostgreSQL 15.4); large = 1.0 GB or 10,000,000 rows)" in lines
    )
    assert lines[-1] == "note: a note"


def test_json_document(tmp_path: Path) -> None:
    doc = render_json(sample_result(tmp_path))
    assert doc["summary"] == {"files": 1, "errors": 1, "warnings": 1}
    assert doc["database"] == {"target": "127.0.0.1:5432/app", "server_version": "15.4"}
    first = doc["issues"][0]
    assert (
        first["rule"] == "table-rewrite" and first["line"] == 3 and first["source"] == "prodready"
    )
    assert first["path"].endswith("db/0001_x.up.sql")
    assert doc["options"]["assumed_mb_per_s"] == {"rewrite": 50, "scan": 100}
    assert doc["files"][0]["transactional"] is True


def test_sarif_log_has_rules_and_physical_locations(tmp_path: Path) -> None:
    log = render_sarif(sample_result(tmp_path), root=tmp_path)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules_by_id = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules_by_id) == {"table-rewrite", "require-concurrent-index-creation"}
    assert "ACCESS EXCLUSIVE" in rules_by_id["table-rewrite"]["help"]["text"]
    assert rules_by_id["require-concurrent-index-creation"]["helpUri"].startswith(
        "https://squawkhq.com/docs/"
    )
    first, second = run["results"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "db/0001_x.up.sql"
    assert location["region"] == {"startLine": 3, "startColumn": 1, "endLine": 3, "endColumn": 40}
    assert first["level"] == "error" and second["level"] == "warning"
    assert run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == "table-rewrite"
    assert first["partialFingerprints"] != second["partialFingerprints"]


def test_every_rule_has_a_title_and_help() -> None:
    assert set(rules.RULES) == {
        "cannot-run-in-transaction",
        "table-rewrite",
        "blocking-index-build",
        "constraint-full-scan",
        "set-not-null-full-scan",
    }
    for rule in rules.RULES.values():
        assert rule.title and len(rule.description) > 100


def test_an_extension_requirements_down_file_lints_clean(tmp_path: Path) -> None:
    from prodready.migrate.generate import plan_fixes
    from tests.unit.test_migrate_generate import TRIGRAM, report

    needs = {**TRIGRAM, "requires": ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]}
    plan = plan_fixes(report([], {"indexes": [needs], "drops": []}), include_review=True)
    write_migrations(tmp_path / "m", plan.migrations)
    result = lint_paths([tmp_path / "m"], None, LintOptions(pg_version="15"))
    assert [(i.path.name, i.rule) for i in result.issues] == []
    down = (tmp_path / "m" / "0001_create_extension_pg_trgm.down.sql").read_text()
    assert "-- squawk-ignore ban-drop-extension" in down
