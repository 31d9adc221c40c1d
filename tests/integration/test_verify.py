"""verify on the real server: a measured speedup, writes, roles under RLS, `$n`, failures."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from prodready.errors import UsageError
from prodready.pg.connection import connect
from prodready.sqlgen import render
from prodready.verify import (
    Baseline,
    Captured,
    Comparison,
    Statement,
    StatementComparison,
    VerifyOptions,
    capture_baseline,
    capture_statements,
    compare_to_baseline,
    load_baseline,
    prepare_statements,
    render_baseline_terminal,
    render_json,
    render_markdown,
    render_terminal,
    save_baseline,
)
from tests.conftest import TestDatabase

FAST = VerifyOptions(runs=3, warmup=1)
EVENTS = """
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    k int NOT NULL,
    payload text NOT NULL
);
INSERT INTO events (k, payload) SELECT i % 2000, md5(i::text) FROM generate_series(1, 100000) i;
ANALYZE events;
"""


def workload_file(tmp_path: Path, text: str, name: str = "workload.sql") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def captured(baseline: Baseline, name: str) -> Captured:
    found = [c for c in baseline.statements if c.statement.name == name]
    assert len(found) == 1, [c.statement.name for c in baseline.statements]
    return found[0]


def row(comparison: Comparison, name: str) -> StatementComparison:
    found = [r for r in comparison.statements if r.statement.name == name]
    assert len(found) == 1, [r.statement.name for r in comparison.statements]
    return found[0]


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


# -- an index makes the workload faster, and verify proves it --------------------------------


def test_an_index_gives_a_measured_speedup(fresh_db: TestDatabase, tmp_path: Path) -> None:
    fresh_db.execute(EVENTS)
    source = workload_file(
        tmp_path,
        "-- name: by_k\n-- weight: 100\nSELECT id, payload FROM events WHERE k = 42;\n\n"
        "-- name: by_id\n-- weight: 10\nSELECT payload FROM events WHERE id = 500;\n",
    )
    baseline = capture_baseline(fresh_db.dsn, [source], FAST)
    path = save_baseline(baseline, tmp_path / "baseline.json")
    loaded = load_baseline(path)
    assert loaded.to_json() == baseline.to_json()

    slow = captured(loaded, "by_k")
    assert slow.status == "measured" and slow.measurement is not None
    assert slow.measurement.plan == "Seq Scan on public.events"
    assert slow.measurement.rows == 50
    assert len(slow.measurement.runs_ms) == 3
    assert slow.statement.calls == 100 and slow.statement.writes is None

    fresh_db.execute("CREATE INDEX events_k_idx ON events (k)")
    comparison = compare_to_baseline(fresh_db.dsn, loaded, VerifyOptions(expect_speedup=2))
    assert comparison.runs == 3 and comparison.warmup == 1  # the baseline's N

    faster = row(comparison, "by_k")
    assert faster.status == "compared" and faster.before and faster.after
    assert faster.after.p50_ms < faster.before.p50_ms
    assert faster.speedup is not None and faster.speedup > 2
    assert faster.speedup == pytest.approx(faster.before.p50_ms / faster.after.p50_ms)
    assert faster.plan_changed is True
    assert "events_k_idx" in faster.after.plan
    assert faster.indexes_added == ["public.events_k_idx"]
    assert faster.after.rows == 50  # the same statement, the same answer
    assert faster.after.buffers.shared_hit + faster.after.buffers.shared_read < (
        faster.before.buffers.shared_hit + faster.before.buffers.shared_read
    )
    assert not faster.regression

    same = row(comparison, "by_id")
    assert same.status == "compared" and same.before and same.after
    assert same.plan_changed is False
    assert same.after.plan == "Index Scan using public.events_pkey on public.events"
    assert same.indexes_added == []
    assert same.speedup is not None and 1 / 3 < same.speedup < 3  # about 1x
    assert not same.regression  # a sub-millisecond lookup is within the noise margin

    data = render_json(comparison)
    json.dumps(data, allow_nan=False)
    before = sum(s["calls"] * s["before"]["mean_ms"] for s in data["statements"])
    after = sum(s["calls"] * s["after"]["mean_ms"] for s in data["statements"])
    assert data["weighted"]["before_ms"] == pytest.approx(before, rel=1e-3)
    assert data["weighted"]["after_ms"] == pytest.approx(after, rel=1e-3)
    assert data["weighted"]["speedup"] == pytest.approx(before / after, rel=1e-2)
    assert data["weighted"]["speedup"] > 2
    assert data["expect_speedup"] == 2 and data["passed"] is True
    by_k = next(s for s in data["statements"] if s["id"] == faster.statement.id)
    assert set(by_k) >= {"id", "query", "role", "calls", "before", "after", "speedup"}
    assert set(by_k["before"]) >= {"p50_ms", "p95_ms", "mean_ms", "plan"}
    assert by_k["plan_changed"] is True and by_k["regression"] is False

    text = render_terminal(comparison, width=200)
    assert "PASS (target 2x)" in text and "now uses public.events_k_idx" in text
    assert "# Workload verification" in render_markdown(comparison)

    stricter = compare_to_baseline(
        fresh_db.dsn, loaded, VerifyOptions(runs=1, warmup=0, expect_speedup=10_000)
    )
    assert stricter.passed is False
    assert "below the 10000x target" in stricter.reasons[0]
    assert stricter.notes == ("the baseline has 3 runs per statement, the replay 1",)
    assert len(row(stricter, "by_k").after.runs_ms) == 1  # type: ignore[union-attr]
    assert comparison.notes == ()


# -- writes -----------------------------------------------------------------------------------

WRITES = """
CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO counters SELECT i, 0 FROM generate_series(1, 10) i;
CREATE FUNCTION bump(i int) RETURNS int LANGUAGE sql VOLATILE
    AS 'UPDATE counters SET n = n + 1 WHERE id = i RETURNING n';
CREATE VIEW bumped AS SELECT bump(4) AS n;
"""
WRITES_WORKLOAD = """
-- name: update
-- weight: 5
UPDATE counters SET n = n + 1 WHERE id = 1;
-- name: insert
-- weight: 5
INSERT INTO counters (id, n) VALUES (100, 0);
-- name: rpc
-- weight: 5
SELECT bump(2);
-- name: hidden
-- weight: 5
SELECT n FROM bumped;
-- name: read
-- weight: 5
SELECT n FROM counters WHERE id = 3;
"""


@pytest.fixture(scope="module")
def counters(db: TestDatabase) -> TestDatabase:
    db.execute(WRITES)
    return db


def counter_state(db: TestDatabase) -> list[tuple[object, ...]]:
    return db.query("SELECT id, n FROM counters ORDER BY id")


def test_writes_are_skipped_unless_allowed(counters: TestDatabase, tmp_path: Path) -> None:
    source = workload_file(tmp_path, WRITES_WORKLOAD)
    baseline = capture_baseline(counters.dsn, [source], FAST)
    assert captured(baseline, "update").status == "skipped"
    assert captured(baseline, "update").reason == (
        "writes (UPDATE statement): not run without allow_writes"
    )
    assert captured(baseline, "insert").reason == (
        "writes (INSERT statement): not run without allow_writes"
    )
    assert captured(baseline, "rpc").reason == (
        "writes (calls volatile function bump()): not run without allow_writes"
    )
    # a write the text does not show (a view calling a volatile function) is refused by the
    # read-only session, and reported as a write
    hidden = captured(baseline, "hidden")
    assert hidden.status == "skipped"
    assert hidden.reason == (
        "writes (cannot execute UPDATE in a read-only transaction): not run without allow_writes"
    )
    assert captured(baseline, "read").status == "measured"
    assert counter_state(counters) == [(i, 0) for i in range(1, 11)]


def test_allowed_writes_run_and_are_rolled_back(counters: TestDatabase, tmp_path: Path) -> None:
    source = workload_file(tmp_path, WRITES_WORKLOAD)
    options = VerifyOptions(runs=3, warmup=1, allow_writes=True)
    baseline = capture_baseline(counters.dsn, [source], options)
    for name in ("update", "insert", "rpc", "hidden", "read"):
        measured = captured(baseline, name)
        assert measured.status == "measured", (name, measured.reason)
    # the write behind the view was found by running it, and the baseline remembers it
    hidden = captured(baseline, "hidden").statement
    assert hidden.writes == "cannot execute UPDATE in a read-only transaction"
    update = captured(baseline, "update").measurement
    insert = captured(baseline, "insert").measurement
    assert update is not None and update.plan.startswith("Update on public.counters")
    assert update.rows == 1
    assert insert is not None and insert.plan.startswith("Insert on public.counters")
    assert insert.rows == 1
    # 1 + 3 runs of each write, every one rolled back: nothing changed
    assert counter_state(counters) == [(i, 0) for i in range(1, 11)]

    comparison = compare_to_baseline(counters.dsn, baseline, options)
    assert {r.statement.name: r.status for r in comparison.statements} == {
        "update": "compared",
        "insert": "compared",
        "rpc": "compared",
        "read": "compared",
        "hidden": "compared",
    }
    assert counter_state(counters) == [(i, 0) for i in range(1, 11)]
    # replayed without permission, the writes are reported, not run
    read_only = compare_to_baseline(counters.dsn, baseline, FAST)
    assert row(read_only, "update").status == "skipped"
    assert row(read_only, "hidden").status == "skipped"
    assert row(read_only, "read").status == "compared"


def test_statements_built_by_the_caller_and_a_limit(counters: TestDatabase, tmp_path: Path) -> None:
    read = Statement(
        id="counter",
        query="SELECT n FROM counters WHERE id = current_setting('app.id')::int",
        sql="SELECT n FROM counters WHERE id = current_setting('app.id')::int",
        calls=7,
        settings=(("app.id", "3"),),
        name="counter",
    )
    said: list[str] = []
    baseline = capture_statements(counters.dsn, [read], FAST, progress=said.append)
    (only,) = baseline.statements
    assert only.measurement is not None and only.measurement.rows == 1
    assert baseline.weighted_ms == pytest.approx(7 * only.measurement.mean_ms)
    assert said == ["measuring 1/1: counter"]
    with pytest.raises(UsageError, match="statement ids must be unique"):
        capture_statements(counters.dsn, [read, read], FAST)

    limited = capture_baseline(
        counters.dsn, [workload_file(tmp_path, WRITES_WORKLOAD)], VerifyOptions(runs=1, limit=2)
    )
    assert len(limited.statements) == 2
    assert limited.notes == ("3 lighter statement(s) left out (limit 2)",)


# -- roles and RLS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rls(db: TestDatabase) -> Iterator[tuple[TestDatabase, str]]:
    role = f"verify_alice_{secrets.token_hex(4)}"
    db.execute(render(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident(role))))
    db.execute("CREATE TABLE docs (id int PRIMARY KEY, owner name NOT NULL, tenant int NOT NULL)")
    db.execute(
        "INSERT INTO docs SELECT i, CASE WHEN i <= 3 THEN %s ELSE 'bob' END, i %% 5"
        " FROM generate_series(1, 30) i",
        (role,),
    )
    db.execute(
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY own ON docs USING (owner = current_user);"
        "CREATE TABLE tenant_docs (id int PRIMARY KEY, tenant int NOT NULL);"
        "INSERT INTO tenant_docs SELECT i, i % 5 FROM generate_series(1, 30) i;"
        "ALTER TABLE tenant_docs ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY tenant ON tenant_docs"
        " USING (tenant = current_setting('app.tenant', true)::int)"
    )
    db.execute(render(sql.SQL("GRANT SELECT ON docs, tenant_docs TO {}").format(ident(role))))
    yield db, role
    db.execute(render(sql.SQL("DROP OWNED BY {}").format(ident(role))))
    db.execute(render(sql.SQL("DROP ROLE {}").format(ident(role))))


def test_statements_run_as_their_role_under_rls(
    rls: tuple[TestDatabase, str], tmp_path: Path
) -> None:
    db, role = rls
    source = workload_file(
        tmp_path,
        f"-- name: mine\n-- role: {role}\nSELECT id FROM docs;\n\n"
        "-- name: everything\nSELECT id, owner FROM docs;\n\n"
        f"-- name: tenant\n-- role: {role}\n-- set: app.tenant = '2'\n"
        "SELECT id FROM tenant_docs;\n\n"
        "-- name: nobody\n-- role: verify_no_such_role\nSELECT tenant FROM docs;\n",
    )
    baseline = capture_baseline(db.dsn, [source], FAST)
    mine = captured(baseline, "mine")
    assert mine.statement.role == role
    assert mine.measurement is not None and mine.measurement.rows == 3  # the policy applied
    everything = captured(baseline, "everything")
    assert everything.statement.role is None
    assert everything.measurement is not None and everything.measurement.rows == 30
    tenant = captured(baseline, "tenant")
    assert tenant.statement.settings == (("app.tenant", "2"),)
    assert tenant.measurement is not None and tenant.measurement.rows == 6
    nobody = captured(baseline, "nobody")
    assert nobody.status == "skipped"
    assert nobody.reason == "role 'verify_no_such_role' does not exist in this database"

    # the role and the settings travel in the baseline and apply again on replay
    path = save_baseline(baseline, tmp_path / "rls.json")
    comparison = compare_to_baseline(db.dsn, load_baseline(path))
    after = {r.statement.name: r.after.rows if r.after else None for r in comparison.statements}
    assert after == {"mine": 3, "everything": 30, "tenant": 6, "nobody": None}


# -- pg_stat_statements: `$n` bound once, replayed with the same values ------------------------


def test_pg_stat_statements_params_are_bound_and_replayed(
    fresh_db: TestDatabase, tmp_path: Path
) -> None:
    fresh_db.execute(EVENTS)
    with psycopg.connect(fresh_db.dsn, autocommit=True) as conn:
        for k in range(5):  # psycopg sends $1: one normalised entry in pg_stat_statements
            conn.execute("SELECT id, payload FROM events WHERE k = %s", (k,))
        conn.execute("UPDATE events SET payload = payload WHERE id = %s", (1,))
        conn.execute("SELECT pg_stat_force_next_flush()")
    baseline = capture_baseline(fresh_db.dsn, ["pg_stat_statements"], FAST)
    by_k = [c for c in baseline.statements if "WHERE k = $1" in c.statement.query]
    assert len(by_k) == 1
    statement = by_k[0].statement
    assert statement.bind_method == "stats"
    assert "$1" not in statement.sql and "WHERE k = " in statement.sql
    assert statement.calls == 5
    assert by_k[0].measurement is not None and by_k[0].measurement.rows == 50
    # a write seen by pg_stat_statements is bound too, and not run without permission
    update = next(c for c in baseline.statements if c.statement.query.startswith("UPDATE"))
    assert update.status == "skipped" and update.statement.writes == "UPDATE statement"
    assert "$1" not in update.statement.sql

    loaded = load_baseline(save_baseline(baseline, tmp_path / "pgss.json"))
    assert loaded.statements == baseline.statements
    # new data changes pg_stats, so binding now would choose another value; the replay
    # still runs the one bound at capture
    fresh_db.execute("UPDATE events SET k = 7 WHERE k <> 7 AND id / 2000 % 2 = 0; ANALYZE events")
    with connect(fresh_db.dsn) as conn:
        rebound = prepare_statements(conn, ["pg_stat_statements"]).statements
    now = next(s for s in rebound if s.id == statement.id)
    assert now.sql != statement.sql
    comparison = compare_to_baseline(fresh_db.dsn, loaded)
    replayed = next(r for r in comparison.statements if r.statement.id == statement.id)
    assert replayed.statement.sql == statement.sql
    assert replayed.status == "compared" and replayed.after is not None
    expected = fresh_db.query("SELECT count(*) FROM (" + statement.sql + ") AS replayed")
    assert replayed.after.rows == expected[0][0] == 25  # half of its rows moved to k = 7


# -- failures ---------------------------------------------------------------------------------


def test_a_statement_that_fails_in_replay_is_reported(
    fresh_db: TestDatabase, tmp_path: Path
) -> None:
    fresh_db.execute(
        "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1);"
        "CREATE TABLE doomed (id int PRIMARY KEY, note text); INSERT INTO doomed VALUES (1, 'x');"
    )
    source = workload_file(
        tmp_path,
        "-- name: kept\nSELECT id FROM kept WHERE id = 1;\n"
        "-- name: doomed\nSELECT note FROM doomed WHERE id = 1;\n"
        "-- name: ddl\nCREATE TABLE nope (id int);\n",
    )
    baseline = capture_baseline(fresh_db.dsn, [source], FAST)
    assert [u.query for u in baseline.unrunnable] == ["CREATE TABLE nope (id int)"]
    assert "only DML" in baseline.unrunnable[0].reason
    fresh_db.execute("ALTER TABLE doomed DROP COLUMN note")
    comparison = compare_to_baseline(fresh_db.dsn, baseline, VerifyOptions(expect_speedup=0.1))
    failed = row(comparison, "doomed")
    assert failed.status == "failed" and failed.after is None
    assert failed.reason == 'column "note" does not exist'
    assert row(comparison, "kept").status == "compared"
    assert comparison.passed is False
    assert comparison.reasons == ["1 statement(s) that ran before fail now"]
    assert 'FAILS NOW: column "note" does not exist' in render_terminal(comparison, width=200)
    assert render_json(comparison)["failures"] == 1


def test_a_run_longer_than_the_statement_timeout_fails(db: TestDatabase, tmp_path: Path) -> None:
    source = workload_file(tmp_path, "-- name: sleepy\nSELECT pg_sleep(1);\n")
    options = VerifyOptions(runs=3, warmup=1, statement_timeout_ms=50)
    baseline = capture_baseline(db.dsn, [source], options)
    sleepy = captured(baseline, "sleepy")
    assert sleepy.status == "failed"
    assert sleepy.reason == "canceled: took longer than the 50 ms statement timeout"
    assert "sleepy" in render_baseline_terminal(baseline)


def test_a_foreign_file_is_not_a_baseline(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"tool": "prodready", "schema": 1, "findings": []}))
    with pytest.raises(UsageError) as error:
        load_baseline(path)
    assert str(error.value) == (
        f"{path}: not a prodready verify baseline (expected kind 'verify-baseline')"
    )
