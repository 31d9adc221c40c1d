"""Workload intake on the real server: pg_stat_statements, and logs a live server writes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from prodready.advisor.model import WorkloadQuery
from prodready.advisor.params import bind
from prodready.advisor.workload import (
    from_log_file,
    from_pg_stat_statements,
    load_workload,
    pg_stat_statements_schema,
)
from prodready.errors import TargetError
from prodready.pg.cluster import LocalCluster
from prodready.pg.connection import connect
from tests.conftest import TestDatabase
from tests.data.workloads.make_logs import LOG_SETTINGS, RECENT_ACCOUNTS, run_sample_session

RECENT = RECENT_ACCOUNTS.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)


def only(queries: list[WorkloadQuery], start: str) -> WorkloadQuery:
    matches = [q for q in queries if q.text.startswith(start)]
    assert len(matches) == 1, [q.text for q in queries]
    return matches[0]


def flush(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_stat_force_next_flush()")


# -- pg_stat_statements ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def traffic(db: TestDatabase) -> TestDatabase:
    """A small app: parameterised queries from two roles, and the chatter around them."""
    role = f"advisor_app_{secrets.token_hex(4)}"
    db.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, owner text NOT NULL, price int NOT NULL);"
        "INSERT INTO items SELECT i, 'owner' || i % 7, i FROM generate_series(1, 500) i;"
        "ANALYZE items"
    )
    db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app'").format(sql.Identifier(role)))
    db.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(role)))
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        for i in range(30):  # psycopg sends $n: pg_stat_statements sees one normalised entry
            conn.execute("SELECT id, price FROM items WHERE owner = %s", (f"owner{i % 7}",))
        for i in range(5):  # int2 then int8 parameters: two entries, one fingerprint
            value = i if i < 3 else 10**10 + i
            conn.execute("SELECT owner FROM items WHERE id = %s", (value,))
        with conn.transaction():
            conn.execute("SELECT max(price) FROM items WHERE price < 100")
        conn.execute("SET work_mem = '8MB'")
        conn.execute("SHOW work_mem")
        conn.execute("CREATE TEMP TABLE scratch (id int)")
        conn.execute("/* prodready */ SELECT count(*) FROM items")
        flush(conn)
    with psycopg.connect(db.dsn_as(role, "app"), autocommit=True) as conn:
        for _ in range(10):
            conn.execute("SELECT id, price FROM items WHERE owner = %s", ("owner3",))
        flush(conn)
    return db


def test_pg_stat_statements_reads_the_current_database_grouped_by_fingerprint(
    traffic: TestDatabase,
) -> None:
    with connect(traffic.dsn) as conn:
        queries = from_pg_stat_statements(conn)
    by_owner = only(queries, "SELECT id, price FROM items WHERE owner = $1")
    assert by_owner.calls == 40  # 30 as postgres, 10 as the app role: merged
    assert by_owner.role == "postgres"  # the role with most calls
    assert by_owner.source == "pg_stat_statements"
    assert by_owner.total_ms is not None and by_owner.mean_ms == pytest.approx(
        by_owner.total_ms / 40
    )
    assert only(queries, "SELECT owner FROM items WHERE id = $1").calls == 5
    assert only(queries, "SELECT max(price) FROM items WHERE price < $1").calls == 1


def test_pg_stat_statements_leaves_out_utility_ddl_and_our_own_statements(
    traffic: TestDatabase,
) -> None:
    with connect(traffic.dsn) as conn:
        texts = [q.text for q in from_pg_stat_statements(conn)]
    assert not any(
        t.upper().startswith(("BEGIN", "COMMIT", "SET", "SHOW", "CREATE")) for t in texts
    )
    assert not any("prodready" in t or "count(*) FROM items" in t for t in texts)


def test_pg_stat_statements_min_calls_limit_and_order(traffic: TestDatabase) -> None:
    with connect(traffic.dsn) as conn:
        everything = from_pg_stat_statements(conn)
        frequent = from_pg_stat_statements(conn, min_calls=5)
        top = from_pg_stat_statements(conn, limit=2)
    assert {q.text for q in frequent if "items" in q.text} == {
        "SELECT id, price FROM items WHERE owner = $1",
        "SELECT owner FROM items WHERE id = $1",
    }
    assert all(q.calls >= 5 for q in frequent)
    assert top == everything[:2]
    totals = [q.total_ms or 0 for q in everything]
    assert totals == sorted(totals, reverse=True)


def test_pg_stat_statements_of_another_database(
    traffic: TestDatabase, fresh_db: TestDatabase
) -> None:
    with connect(fresh_db.dsn) as conn:
        queries = from_pg_stat_statements(conn, database=traffic.name)
        assert from_pg_stat_statements(conn, database="no_such_database") == []
    assert only(queries, "SELECT id, price FROM items WHERE owner = $1").calls == 40


def test_pg_stat_statements_in_another_schema(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        "DROP EXTENSION pg_stat_statements; CREATE SCHEMA extensions;"
        " CREATE EXTENSION pg_stat_statements SCHEMA extensions;"
        " CREATE TABLE t (id int PRIMARY KEY)"
    )
    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        for i in range(3):
            conn.execute("SELECT * FROM t WHERE id = %s", (i,))
        flush(conn)
    with connect(fresh_db.dsn) as conn:
        assert pg_stat_statements_schema(conn) == "extensions"
        assert only(from_pg_stat_statements(conn), "SELECT * FROM t WHERE id = $1").calls == 3


def test_pg_stat_statements_not_installed_is_a_target_error(fresh_db: TestDatabase) -> None:
    fresh_db.execute("DROP EXTENSION pg_stat_statements")
    with connect(fresh_db.dsn) as conn, pytest.raises(TargetError, match="not installed"):
        from_pg_stat_statements(conn)


def test_load_workload_merges_pg_stat_statements_with_a_sql_file(
    traffic: TestDatabase, tmp_path: Path
) -> None:
    path = tmp_path / "extra.sql"
    path.write_text("-- weight: 60\nSELECT id, price FROM items WHERE owner = 'owner1';\n")
    with connect(traffic.dsn) as conn:
        queries = load_workload(["pg_stat_statements", str(path)], conn)
        bound, skipped = bind([q for q in queries if "FROM items WHERE" in q.text], conn)
    merged = only(queries, "SELECT id, price FROM items WHERE owner = ")
    assert merged.calls == 100 and merged.source == "pg_stat_statements+extra.sql"
    assert merged.text == "SELECT id, price FROM items WHERE owner = 'owner1'"  # literal: bindable
    assert skipped == [] and {b.method for b in bound} <= {"literal", "stats"}


# -- logs a live server writes ---------------------------------------------------------------


def test_stderr_log_of_the_test_cluster(db: TestDatabase, pg_cluster: LocalCluster) -> None:
    """The shared cluster logs to stderr with the default prefix once a session asks."""
    run_sample_session(db.dsn)
    queries = from_log_file(pg_cluster.logfile)
    recent = only(queries, RECENT)
    assert recent.calls >= 3  # other runs in this cluster may log it too
    assert ("'suspended'", "'2024-01-01 00:00:00+00'", "'20'") in recent.param_samples
    assert only(queries, "UPDATE accounts\n   SET plan = 'pro'\n WHERE id = 3").calls >= 1


@pytest.fixture(scope="module")
def logging_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: csvlog needs the logging collector, set at server start."""
    with LocalCluster(settings=LOG_SETTINGS) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
        run_sample_session(cluster.dsn("shop"))
        yield cluster


def test_csvlog_and_stderr_of_one_server_read_the_same(logging_cluster: LocalCluster) -> None:
    logdir = logging_cluster.datadir / "log"
    from_csv = from_log_file(logdir / "postgresql.csv")
    from_stderr = from_log_file(logdir / "postgresql.log")
    assert [(q.text, q.calls, q.param_samples) for q in from_csv] == [
        (q.text, q.calls, q.param_samples) for q in from_stderr
    ]
    recent = only(from_csv, RECENT)
    assert (recent.calls, recent.role) == (3, "postgres")
    assert only(from_csv, "SELECT kind FROM events").total_ms is not None


def test_a_log_workload_binds_with_the_logged_values(logging_cluster: LocalCluster) -> None:
    logdir = logging_cluster.datadir / "log"
    queries = load_workload([str(logdir / "postgresql.csv")], None)
    with connect(logging_cluster.dsn("shop")) as conn:
        bound, skipped = bind(queries, conn)
    recent = next(b for b in bound if b.query.text == RECENT)
    assert recent.method == "log"
    assert "status = 'active'::text" in recent.sql and recent.sql.endswith("LIMIT '10'::bigint")
    count = next(b for b in bound if b.query.text.startswith("SELECT count(*) FROM events"))
    assert count.sql.endswith("account_id = '5'::bigint AND kind = 'login'::text")  # no NULL
    reasons = {s.query: s.reason for s in skipped}
    assert reasons["CREATE TEMP TABLE scratch (id int)"] == (
        "not a query (CREATE TEMP): only DML is planned"
    )
    assert reasons["SELECT count(*) FROM scratch"].startswith('references table "scratch"')
    assert reasons["CREATE DATABASE shop"] == "not a query (CREATE DATABASE): only DML is planned"


def test_referential_integrity_and_nested_statements_are_not_workload(
    fresh_db: TestDatabase,
) -> None:
    fresh_db.execute(
        "CREATE TABLE ri_parent (id int PRIMARY KEY);"
        "CREATE TABLE ri_child (id int PRIMARY KEY, parent_id int REFERENCES ri_parent);"
        "CREATE TABLE ri_late (id int PRIMARY KEY, parent_id int);"
        "CREATE FUNCTION ri_count() RETURNS bigint LANGUAGE plpgsql AS"
        " $$ BEGIN RETURN (SELECT count(*) FROM ri_child WHERE parent_id = 1); END $$;"
    )
    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO ri_parent SELECT generate_series(1, 10)")
        for i in range(1, 6):  # each insert runs the FK trigger's lookup of the parent
            conn.execute("INSERT INTO ri_child VALUES (%s, %s)", (i, i))
        conn.execute("INSERT INTO ri_late VALUES (1, 1)")
        # validating a new foreign key scans ri_late with a LEFT JOIN on ri_parent
        conn.execute("ALTER TABLE ri_late ADD FOREIGN KEY (parent_id) REFERENCES ri_parent")
        conn.execute("SELECT ri_count()")  # its inner SELECT is nested (toplevel = false)
        recorded = [r[0] for r in conn.execute("SELECT query FROM pg_stat_statements").fetchall()]
        flush(conn)
    assert any("FOR KEY SHARE OF x" in q for q in recorded)  # pgss did record them
    assert any("LEFT OUTER JOIN ONLY" in q for q in recorded)
    with connect(fresh_db.dsn) as conn:
        texts = [q.text for q in from_pg_stat_statements(conn)]
    assert not [t for t in texts if "FOR KEY SHARE" in t or "LEFT OUTER JOIN ONLY" in t]
    assert not [t for t in texts if "FROM ri_child WHERE parent_id" in t]  # nested
    assert any(t.startswith("INSERT INTO ri_child") for t in texts)
