"""Workload intake without a database: SQL files, server logs, grouping and dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.advisor.model import WorkloadQuery
from prodready.advisor.workload import (
    from_log_file,
    from_sql_file,
    group_statements,
    has_params,
    load_workload,
    merge_workloads,
    parse_parameters,
    split_statements,
    statement_fingerprint,
)
from prodready.errors import UsageError

DATA = Path(__file__).parent.parent / "data" / "workloads"
RECENT = "SELECT id, email\nFROM accounts\nWHERE status = $1\n  AND created_at > $2\nORDER BY"


def by_text(queries: list[WorkloadQuery], start: str) -> WorkloadQuery:
    matches = [q for q in queries if q.text.startswith(start)]
    assert len(matches) == 1, [q.text for q in queries]
    return matches[0]


# -- fingerprints ----------------------------------------------------------------------------


def test_literal_and_normalised_forms_share_a_fingerprint() -> None:
    literal = statement_fingerprint("SELECT * FROM t WHERE a = 1 AND b = 'x'")
    assert literal == statement_fingerprint("select *  from t where a = $1 and b = $2")
    assert literal != statement_fingerprint("SELECT * FROM t WHERE b = 1")


def test_unparseable_statements_get_a_stable_fingerprint_of_their_normal_text() -> None:
    first = statement_fingerprint("SELEC broken\n  FROM t")
    assert first == statement_fingerprint("SELEC  broken FROM t")
    assert first != statement_fingerprint("SELEC other FROM t")
    assert len(first) == 16


def test_has_params_ignores_dollars_inside_strings() -> None:
    assert has_params("SELECT * FROM t WHERE a = $1")
    assert not has_params("SELECT '$1', $$ $2 $$ FROM t")


# -- SQL files -------------------------------------------------------------------------------


def test_sample_sql_file_weights_roles_and_grouping() -> None:
    queries = from_sql_file(DATA / "sample.sql")
    # the two status variants share a fingerprint: weights add up, the heavier text stays
    recent = by_text(queries, "SELECT id, email FROM accounts")
    assert recent.calls == 150
    assert "'active'" in recent.text
    assert recent.role == "web"
    assert recent.source == "sample.sql"
    assert recent.total_ms is None and recent.param_samples == ()
    login = by_text(queries, "SELECT count(*)")
    assert login.calls == 2.5
    assert login.text.endswith("AND kind = 'login;logout'")  # the `;` in the string stays
    assert login.role is None


def test_sql_file_annotations_must_sit_directly_above_the_statement() -> None:
    queries = from_sql_file(DATA / "sample.sql")
    # "-- weight: 7" is separated by a blank line: not this statement's; its role line is
    dollar = by_text(queries, "SELECT $body$")
    assert dollar.text == "SELECT $body$ a ; b $body$ AS note, id FROM events WHERE payload ? 'x;y'"
    assert (dollar.calls, dollar.role) == (1, "worker")
    # a block comment on the statement's own line is not an annotation: one call
    assert by_text(queries, "SELECT email FROM accounts").calls == 1


def test_sql_file_keeps_ddl_and_broken_statements_for_the_skipped_report() -> None:
    texts = {q.text for q in from_sql_file(DATA / "sample.sql")}
    assert "CREATE INDEX ON events (kind)" in texts
    assert "SELEC broken FROM" in texts
    assert len(texts) == 6


def test_sql_file_in_the_demo_format(tmp_path: Path) -> None:
    path = tmp_path / "workload.sql"
    path.write_text(
        "-- The prodready demo marketplace's API workload, with sample parameters.\n"
        "-- Each statement's weight is its calls per minute in production; its role says who\n"
        "\n"
        "-- name: product_detail\n-- role: anon\n-- weight: 200\n"
        "SELECT p.name FROM public.products p WHERE p.id = 42;\n\n"
        "-- name: product_detail\n-- role: anon\n-- weight: 200\n"
        "SELECT p.name FROM public.products p WHERE p.id = 7;\n\n"
        "-- name: my_profile\n-- role: authenticated\n-- weight: 100\n"
        "SELECT email FROM public.users WHERE id = '6f1c3a52-0000-4000-8000-000000000001';\n"
    )
    queries = from_sql_file(path)
    assert [(q.calls, q.role) for q in queries] == [(400, "anon"), (100, "authenticated")]
    assert queries[0].text == "SELECT p.name FROM public.products p WHERE p.id = 42"


def test_a_weight_that_is_not_a_number_is_a_usage_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_text("SELECT 1;\n-- weight: many\nSELECT 2;\n")
    with pytest.raises(UsageError, match=r"w\.sql:2: weight must be a number of calls, not 'many'"):
        from_sql_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "workload file not found"),
        ("", "workload file is empty"),
        ("  \n\n", "workload file is empty"),
        ("-- only a comment\n;;\n", "no SQL statements in the file"),
        ("SELECT 'unterminated", "cannot split into statements"),
    ],
)
def test_bad_sql_files_are_one_line_usage_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "w.sql"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        from_sql_file(path)
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_bytes(b"SELECT '\xff\xfe';")
    with pytest.raises(UsageError, match="not UTF-8 text"):
        from_sql_file(path)


def test_a_directory_is_not_a_workload_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a file"):
        from_sql_file(tmp_path)


def test_split_statements_respects_quotes_dollar_quotes_and_comments() -> None:
    script = "SELECT 'a;b'; SELECT $x$ ; $x$ /* ; */; -- c;\nSELECT 3"
    # a comment after a statement's last token is not part of it
    assert split_statements(script) == ["SELECT 'a;b'", "SELECT $x$ ; $x$", "SELECT 3"]


# -- server logs: the samples a real server wrote (tests/data/workloads/make_logs.py) ---------


@pytest.fixture(params=["sample_stderr.log", "sample_csvlog.csv"])
def sample_log(request: pytest.FixtureRequest) -> list[WorkloadQuery]:
    return from_log_file(DATA / request.param)


def test_log_execute_lines_count_calls_with_their_parameters(
    sample_log: list[WorkloadQuery],
) -> None:
    recent = by_text(sample_log, RECENT)
    assert recent.text.endswith("LIMIT $3")  # the multi-line statement is whole
    assert recent.calls == 3  # parse and bind lines are not calls
    assert recent.param_samples == (
        ("'active'", "'2024-01-01 00:00:00+00'", "'10'"),
        ("'active'", "'2024-01-01 00:00:00+00'", "'10'"),
        ("'suspended'", "'2024-01-01 00:00:00+00'", "'20'"),
    )
    assert recent.total_ms is not None and recent.mean_ms == pytest.approx(recent.total_ms / 3)


def test_log_null_parameters_and_quoted_multiline_values(sample_log: list[WorkloadQuery]) -> None:
    count = by_text(sample_log, "SELECT count(*) FROM events WHERE account_id = $1")
    assert count.param_samples == (("'5'", None), ("'5'", "'login'"), ("'7'", "'login'"))
    insert = by_text(sample_log, "INSERT INTO events")
    assert insert.param_samples == (("'3'", "'it''s a\nmulti-line; value'", None),)


def test_log_named_prepared_statements_and_simple_protocol(sample_log: list[WorkloadQuery]) -> None:
    prepared = by_text(sample_log, "SELECT email FROM accounts WHERE id = $1")
    assert prepared.calls == 3 and prepared.param_samples == (("'1'",), ("'2'",), ("'1'",))
    # literal statements group by fingerprint; the first of equally frequent texts stays
    literal = by_text(sample_log, "SELECT id FROM accounts WHERE email")
    assert literal.calls == 2 and literal.text.endswith("'a;b@example.com'")
    update = by_text(sample_log, "UPDATE accounts")
    assert update.text == "UPDATE accounts\n   SET plan = 'pro'\n WHERE id = 3"


def test_log_statement_then_a_late_duration_line(sample_log: list[WorkloadQuery]) -> None:
    late = by_text(sample_log, "SELECT kind FROM events")
    assert late.calls == 1 and late.total_ms is not None and late.total_ms > 0


def test_log_leaves_out_session_noise_our_own_queries_and_failed_statements(
    sample_log: list[WorkloadQuery],
) -> None:
    texts = [q.text for q in sample_log]
    assert not any(t.startswith(("BEGIN", "COMMIT", "SET ")) for t in texts)
    assert not any("prodready" in t or "count(*) FROM accounts" in t for t in texts)
    assert not any("nope" in t for t in texts)  # ERROR + STATEMENT is not an execution
    # DDL and temp-table statements stay, for the advisor to report as skipped
    assert "CREATE TEMP TABLE scratch (id int)" in texts
    assert "SELECT count(*) FROM scratch" in texts


def test_csvlog_knows_the_role_stderr_with_the_default_prefix_does_not() -> None:
    csv_recent = by_text(from_log_file(DATA / "sample_csvlog.csv"), RECENT)
    stderr_recent = by_text(from_log_file(DATA / "sample_stderr.log"), RECENT)
    assert (csv_recent.role, stderr_recent.role) == ("postgres", None)
    assert csv_recent.source == "sample_csvlog.csv"


@pytest.mark.parametrize(
    "prefix",
    [
        "2024-05-01 10:00:00 UTC [4242]: [3-1] user=app,db=shop,app=web,client=10.0.0.5 ",
        "2024-05-01 10:00:00 UTC:10.0.0.5(5432):app@shop:[4242]:",  # RDS
        "<2024-05-01 10:00:00.123 UTC> pid=4242 user=app ",
    ],
)
def test_log_line_prefix_variants(tmp_path: Path, prefix: str) -> None:
    path = tmp_path / "postgresql-2024-05-01.log"
    path.write_text(
        f"{prefix}LOG:  duration: 2.500 ms  execute <unnamed>: SELECT *\n"
        "\t  FROM accounts\n"
        "\t WHERE id = $1\n"
        f"{prefix}DETAIL:  parameters: $1 = '42'\n"
        f"{prefix}LOG:  duration: 1.500 ms  statement: SELECT * FROM accounts WHERE id = 7\n"
        f"{prefix}LOG:  checkpoint starting: time\n"
    )
    [query] = load_workload([str(path)], None)
    assert query.text == "SELECT *\n  FROM accounts\n WHERE id = $1"
    assert query.calls == 2 and query.total_ms == pytest.approx(4.0)
    assert query.param_samples == (("'42'",),)
    assert query.role == "app"


def test_log_without_statements_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("2024-05-01 10:00:00.000 UTC [1] LOG:  database system is ready\n")
    with pytest.raises(UsageError, match="no logged statements"):
        from_log_file(path)


def test_a_csv_that_is_not_a_csvlog_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(UsageError, match="not a PostgreSQL csvlog"):
        from_log_file(path)


def test_a_simple_query_with_several_statements_splits_its_duration(tmp_path: Path) -> None:
    path = tmp_path / "pg.log"
    path.write_text(
        "2024-05-01 10:00:00.000 UTC [7] LOG:  duration: 4.000 ms  statement:"
        " SELECT 1 FROM accounts; SELECT 2 FROM events\n"
    )
    queries = from_log_file(path)
    assert sorted(q.text for q in queries) == ["SELECT 1 FROM accounts", "SELECT 2 FROM events"]
    assert all(q.total_ms == pytest.approx(2.0) for q in queries)


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("parameters: $1 = 'x', $2 = NULL", ("'x'", None)),
        ("parameters: $1 = 'a, $2 = b', $2 = '1'", ("'a, $2 = b'", "'1'")),
        ("parameters: $2 = 'only two'", (None, "'only two'")),
        ("parameters: $1 = 'it''s'", ("'it''s'",)),
        ("unnamed portal parameter $1 = '5'", None),
    ],
)
def test_parse_parameters(detail: str, expected: tuple[str | None, ...] | None) -> None:
    assert parse_parameters(detail) == expected


# -- grouping, merging, dispatch -------------------------------------------------------------


def test_merge_prefers_a_bindable_variant_and_adds_calls_and_time() -> None:
    pgss = WorkloadQuery(
        statement_fingerprint("SELECT * FROM t WHERE a = $1"),
        "SELECT * FROM t WHERE a = $1", 900, "pg_stat_statements", 90.0, 0.1, "app",
    )  # fmt: skip
    log = WorkloadQuery(
        pgss.fingerprint, "SELECT * FROM t WHERE a = $1 ", 10, "app.log", 2.0, 0.2, "app",
        (("'7'",),),
    )  # fmt: skip
    [merged] = merge_workloads([[pgss], [log]])
    assert merged.calls == 910 and merged.total_ms == pytest.approx(92.0)
    assert merged.text == log.text and merged.param_samples == (("'7'",),)
    assert merged.source == "pg_stat_statements+app.log"
    assert merged.mean_ms == pytest.approx(92.0 / 910)


def test_grouped_queries_come_heaviest_first() -> None:
    light = WorkloadQuery("a", "SELECT 1 FROM a", 5, "x.sql")
    heavy = WorkloadQuery("b", "SELECT 1 FROM b", 50, "x.sql")
    assert [q.text for q in merge_workloads([[light, heavy]])] == [heavy.text, light.text]
    assert group_statements([]) == []


def test_load_workload_merges_files(tmp_path: Path) -> None:
    sql_file = tmp_path / "w.sql"
    sql_file.write_text("-- weight: 3\nSELECT email FROM accounts WHERE id = 1;\n")
    queries = load_workload([str(sql_file), str(DATA / "sample_stderr.log")], None)
    merged = by_text(queries, "SELECT email FROM accounts WHERE id")
    assert merged.calls == 6  # 3 from the file, 3 from the log
    assert merged.source == "w.sql+sample_stderr.log"
    assert merged.text == "SELECT email FROM accounts WHERE id = 1"  # a tie: the first source


@pytest.mark.parametrize("spec", ["workload.txt", "queries", "dump.json"])
def test_load_workload_refuses_unknown_sources(spec: str) -> None:
    with pytest.raises(UsageError, match="unknown workload"):
        load_workload([spec], None)


def test_pg_stat_statements_needs_a_connection() -> None:
    with pytest.raises(UsageError, match="needs a database connection"):
        load_workload(["pg_stat_statements"], None)


def test_statements_that_name_no_table_are_not_workload() -> None:
    from prodready.advisor.workload import _is_query

    assert not _is_query("SELECT now()")
    assert not _is_query("SELECT extensions.pg_stat_statements_reset(0, 1, 0)")
    assert _is_query("SELECT id FROM orders WHERE buyer_id = $1")
    assert _is_query("UPDATE products SET view_count = view_count + $1 WHERE id = $2")
    assert _is_query("INSERT INTO messages (body) VALUES ($1)")
    assert _is_query("DELETE FROM favorites WHERE user_id = $1")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("SELECT * FROM t WHERE a = $1", True), ("  /* c */ (SELECT a FROM t)", True),
        ("-- x\nWITH q AS (SELECT 1) SELECT * FROM q", True), ("UPDATE t SET a = $1", True),
        ("insert into t values ($1)", True), ("TABLE t", True), ("DELETE FROM t", True),
        ("SELECT 1", False), ("select now()", False), ("VALUES (1)", False),
        ("CREATE TABLE app_1 (id int)", False), ("SET search_path = x", False),
        ("BEGIN", False), ("VACUUM t", False), ("EXPLAIN SELECT * FROM t", False),
        ("SELECT extract(epoch FROM now())", False),  # passes the look, fails the parse check
        ('SELECT 1 FROM ONLY "public"."users" x WHERE "id" OPERATOR(pg_catalog.=) $1 '
         "FOR KEY SHARE OF x", False),  # a foreign-key trigger's lookup
        ('SELECT fk."user_id" FROM ONLY "public"."orders" fk LEFT OUTER JOIN ONLY '
         '"public"."users" pk ON ( pk."id" OPERATOR(pg_catalog.=) fk."user_id") '
         'WHERE pk."id" IS NULL AND (fk."user_id" IS NOT NULL)', False),  # FK validation
        ("SELECT 1 FROM orders o WHERE o.id = $1 FOR UPDATE", True),
    ],
)  # fmt: skip
def test_pg_stat_statements_entries_are_judged_cheaply_first(text: str, kept: bool) -> None:
    from prodready.advisor.workload import _is_query

    assert _is_query(text) is kept


def test_literal_forms_of_one_statement_keep_their_values_and_weights(tmp_path: Path) -> None:
    """Three sellers' pages: one statement shape, each form planned with its own values
    for its share of the calls (heaviest first); merging with another source keeps them."""
    path = tmp_path / "w.sql"
    page = "SELECT id FROM products WHERE seller_id = {} ORDER BY created_at DESC LIMIT 24;"
    path.write_text(
        f"-- weight: 30\n{page.format(1)}\n-- weight: 60\n{page.format(2)}\n"
        f"-- weight: 10\n{page.format(3)}\n-- weight: 5\nSELECT 1 FROM products;\n"
    )
    [shaped, other] = from_sql_file(path)
    assert shaped.calls == 100 and shaped.text == page.format(2).rstrip(";")
    sellers = [(text.split("seller_id = ")[1].split()[0], n) for text, n in shaped.variants]
    assert sellers == [("2", 60), ("1", 30), ("3", 10)]
    assert other.variants == ()  # one form: nothing to split
    [merged, _] = merge_workloads([[shaped, other]])
    assert merged.variants == shaped.variants and merged.calls == 100
