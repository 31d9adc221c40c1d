"""apply / rollback / status against a real PostgreSQL: every migration kind up, down and up
again, refusals before anything runs, lock timeouts, failed and interrupted concurrent builds."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from prodready.errors import MigrationError, TargetError, UsageError
from prodready.migrate import journal as journal_table
from prodready.migrate.apply import (
    LOCK_KEY,
    Action,
    ApplyOptions,
    ApplyResult,
    MigrationOutcome,
    apply_migrations,
    backoff_delay,
    check_writable,
    migration_status,
    render_result,
    render_status,
    rollback_migrations,
)
from prodready.migrate.journal import Status
from prodready.migrate.model import Migration, read_migrations, write_migrations
from prodready.pg.dump import schema_dump as dump_schema
from prodready.sqlgen import render
from tests.conftest import TestDatabase

FAST = ApplyOptions(lock_timeout_ms=200, retries=2, backoff_base_s=0.01, backoff_max_s=0.05)

SETUP = """
CREATE TABLE public.orders (
    id bigint PRIMARY KEY, buyer_id bigint, code text, created_at timestamptz
);
INSERT INTO public.orders SELECT g, g % 50, 'c' || (g % 10), now() FROM generate_series(1, 500) g;
CREATE INDEX orders_created_idx ON public.orders (created_at);
CREATE FUNCTION public.f(x bigint) RETURNS bigint LANGUAGE sql AS 'SELECT x + 1';
"""

CREATE_NOTES = Migration(
    1,
    "create_notes",
    "CREATE TABLE public.notes (id bigint PRIMARY KEY, owner text NOT NULL);\n"
    "ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;\n"
    "CREATE POLICY notes_owner ON public.notes USING (owner = current_user OR owner LIKE 'admin%')",
    "DROP TABLE public.notes",
    header=("a transactional change: table, RLS and a policy",),
)
ADD_INDEX = Migration(
    2,
    "add_index_orders_buyer_id",
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_buyer_id_idx" ON "public"."orders" '
    '("buyer_id")',
    'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_buyer_id_idx"',
    transactional=False,
)
SECURE_FUNCTION = Migration(
    3,
    "secure_function_f",
    """ALTER FUNCTION "public"."f"(bigint) SET search_path = ''""",
    'ALTER FUNCTION "public"."f"(bigint) RESET search_path',
)
DROP_INDEX = Migration(
    4,
    "drop_index_orders_created_idx",
    'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_created_idx"',
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_created_idx" ON "public"."orders" '
    '("created_at")',
    transactional=False,
)
ALL_KINDS = [CREATE_NOTES, ADD_INDEX, SECURE_FUNCTION, DROP_INDEX]


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def mdb(fresh_db: TestDatabase) -> TestDatabase:
    """A fresh database with a small orders table, an index and a function."""
    fresh_db.execute(SETUP)
    return fresh_db


def write(directory: Path, *migrations: Migration) -> Path:
    """Write migrations after the directory's existing ones (write_migrations renumbers)."""
    write_migrations(directory, list(migrations))
    return directory


def journal(db: TestDatabase) -> dict[int, tuple[str, int, str | None]]:
    rows = db.query("SELECT id, status, steps_done, last_error FROM prodready.migrations")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def index_state(db: TestDatabase, name: str) -> bool | None:
    """True valid, False invalid, None absent."""
    rows = db.query(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s",
        (name,),
    )
    return bool(rows[0][0]) if rows else None


def exists(db: TestDatabase, relation: str) -> bool:
    return bool(db.query("SELECT to_regclass(%s) IS NOT NULL", (relation,))[0][0])


def actions(result: ApplyResult) -> list[tuple[str, Action]]:
    return [(m.name, m.action) for m in result.migrations]


def schema_dump(db: TestDatabase) -> str:
    """pg_dump --schema-only of everything but the journal."""
    return dump_schema(db.dsn, bindir=db.cluster.bindir)


def interrupt_at(prefix: str) -> Callable[[str], None]:
    """An event sink that presses Ctrl-C when an event starts with `prefix`."""

    def sink(event: str) -> None:
        if event.startswith(prefix):
            raise KeyboardInterrupt

    return sink


@contextmanager
def holding(db: TestDatabase, statement: str) -> Iterator[psycopg.Connection]:
    """Another session inside an open transaction that ran `statement`; rolled back at the end."""
    conn = psycopg.connect(db.dsn)
    try:
        conn.execute(statement)
        yield conn
    finally:
        conn.rollback()
        conn.close()


# -- every kind: apply, status, rollback --to 0, apply again ------------------------------------


def test_each_kind_applies_rolls_back_to_the_exact_schema_and_reapplies(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", *ALL_KINDS)
    before = schema_dump(mdb)
    events: list[str] = []

    result = apply_migrations(mdb.dsn, directory, on_event=events.append)

    assert actions(result) == [(m.name, Action.APPLIED) for m in ALL_KINDS]
    assert schema_dump(mdb) != before
    assert [(m.statements, m.attempts, m.transactional) for m in result.migrations] == [
        (3, 1, True),
        (1, 1, False),
        (1, 1, True),
        (1, 1, False),
    ]
    assert exists(mdb, "public.notes")
    assert mdb.query("SELECT polname FROM pg_policy") == [("notes_owner",)]
    assert index_state(mdb, "orders_buyer_id_idx") is True
    assert index_state(mdb, "orders_created_idx") is None
    assert mdb.query("SELECT proconfig FROM pg_proc WHERE proname = 'f'") == [(['search_path=""'],)]
    assert journal(mdb) == {
        1: ("applied", 3, None),
        2: ("applied", 1, None),
        3: ("applied", 1, None),
        4: ("applied", 1, None),
    }
    assert "applying 0002_add_index_orders_buyer_id (non-transactional, 1 statement)" in events
    status = migration_status(mdb.dsn, directory)
    assert [(r.name, r.status, r.applied, r.problem) for r in status] == [
        (m.name, "applied", True, None) for m in ALL_KINDS
    ]
    assert all(r.applied_at for r in status)

    back = rollback_migrations(mdb.dsn, directory, to=0)

    assert actions(back) == [(m.name, Action.ROLLED_BACK) for m in reversed(ALL_KINDS)]
    assert schema_dump(mdb) == before
    assert {k: v[0] for k, v in journal(mdb).items()} == dict.fromkeys(range(1, 5), "rolled_back")
    assert [r.applied_at for r in migration_status(mdb.dsn, directory)] == [None] * 4

    again = apply_migrations(mdb.dsn, directory)
    assert actions(again) == [(m.name, Action.APPLIED) for m in ALL_KINDS]
    assert index_state(mdb, "orders_buyer_id_idx") is True
    noop = apply_migrations(mdb.dsn, directory)
    assert [(m.action, m.note) for m in noop.migrations] == [
        (Action.SKIPPED, "already applied")
    ] * 4


def test_rollback_to_a_middle_number_undoes_only_the_later_ones(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", *ALL_KINDS)
    apply_migrations(mdb.dsn, directory)

    result = rollback_migrations(mdb.dsn, directory, to=2)

    assert actions(result) == [
        (DROP_INDEX.name, Action.ROLLED_BACK),
        (SECURE_FUNCTION.name, Action.ROLLED_BACK),
    ]
    assert index_state(mdb, "orders_created_idx") is True
    assert index_state(mdb, "orders_buyer_id_idx") is True
    assert mdb.query("SELECT proconfig FROM pg_proc WHERE proname = 'f'") == [(None,)]
    nothing = rollback_migrations(mdb.dsn, directory, to=2)
    assert [(m.action, m.note) for m in nothing.migrations] == [(Action.SKIPPED, "not applied")] * 2


def test_dry_runs_report_and_create_nothing(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", *ALL_KINDS)

    dry = apply_migrations(mdb.dsn, directory, ApplyOptions(dry_run=True))

    assert actions(dry) == [(m.name, Action.WOULD_APPLY) for m in ALL_KINDS]
    assert dry.dry_run and [m.statements for m in dry.migrations] == [3, 1, 1, 1]
    assert not exists(mdb, "public.notes")
    assert mdb.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'prodready'") == [(0,)]

    apply_migrations(mdb.dsn, directory)
    dry_back = rollback_migrations(mdb.dsn, directory, 1, ApplyOptions(dry_run=True))
    assert actions(dry_back) == [(m.name, Action.WOULD_ROLL_BACK) for m in reversed(ALL_KINDS[1:])]
    assert index_state(mdb, "orders_buyer_id_idx") is True
    assert set(v[0] for v in journal(mdb).values()) == {"applied"}


# -- refusals before anything runs --------------------------------------------------------------


def test_an_edited_applied_migration_is_refused_before_anything_runs(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)
    apply_migrations(mdb.dsn, directory)
    write(directory, ADD_INDEX)  # a new, pending migration
    up = directory / f"{CREATE_NOTES.name}.up.sql"
    up.write_text(up.read_text() + "\n-- a harmless-looking edit\n")

    edited = (
        r"0001_create_notes was edited after it was applied "
        r"\(checksum [0-9a-f]{12} in the journal, [0-9a-f]{12} on disk\)"
    )
    with pytest.raises(UsageError, match=edited):
        apply_migrations(mdb.dsn, directory)
    with pytest.raises(UsageError, match="edited after it was applied"):
        rollback_migrations(mdb.dsn, directory, to=0)
    assert index_state(mdb, "orders_buyer_id_idx") is None  # 0002 did not run
    assert exists(mdb, "public.notes")  # 0001 was not rolled back
    [row, _] = migration_status(mdb.dsn, directory)
    assert row.problem == "edited after it was applied: restore it or add a new migration"


def test_an_edited_down_file_is_refused_too(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)
    apply_migrations(mdb.dsn, directory)
    (directory / f"{CREATE_NOTES.name}.down.sql").write_text("DROP TABLE public.orders;\n")

    with pytest.raises(UsageError, match="0001_create_notes was edited after it was applied"):
        rollback_migrations(mdb.dsn, directory, to=0)
    assert exists(mdb, "public.orders") and exists(mdb, "public.notes")


def test_missing_files_of_an_applied_migration_are_refused(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES, ADD_INDEX)
    apply_migrations(mdb.dsn, directory)
    for path in directory.glob("0002_*"):
        path.unlink()

    with pytest.raises(
        UsageError,
        match=r"the journal has 0002_add_index_orders_buyer_id applied, but its files are not in",
    ):
        apply_migrations(mdb.dsn, directory)
    rows = migration_status(mdb.dsn, directory)
    assert [(r.name, r.problem is not None) for r in rows] == [
        (CREATE_NOTES.name, False),
        (ADD_INDEX.name, True),
    ]


def test_a_renamed_applied_migration_is_refused(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)
    apply_migrations(mdb.dsn, directory)
    for path in directory.iterdir():
        path.rename(path.with_name(path.name.replace("create_notes", "notes_table")))

    with pytest.raises(UsageError) as caught:
        apply_migrations(mdb.dsn, directory)
    assert str(caught.value) == (
        f"the journal has 0001_create_notes applied, but its files are not in {directory} "
        "(its number is now 0001_notes_table); restore them"
    )


def test_a_gap_in_what_is_applied_is_refused(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES, SECURE_FUNCTION)
    apply_migrations(mdb.dsn, directory)
    mdb.execute("UPDATE prodready.migrations SET status = 'rolled_back' WHERE id = 1")

    with pytest.raises(UsageError, match="0001_create_notes is not applied but the later "):
        apply_migrations(mdb.dsn, directory)


def test_review_required_is_refused_before_anything_runs(mdb: TestDatabase, tmp_path: Path) -> None:
    widen = Migration(
        2,
        "widen_orders_id",
        "ALTER TABLE public.orders ALTER COLUMN buyer_id TYPE numeric",
        "ALTER TABLE public.orders ALTER COLUMN buyer_id TYPE bigint",
        review_required=True,
    )
    directory = write(tmp_path / "m", CREATE_NOTES, widen)

    with pytest.raises(UsageError) as caught:
        apply_migrations(mdb.dsn, directory)
    assert str(caught.value) == (
        "0002_widen_orders_id needs review: read 0002_widen_orders_id.up.sql, then delete its "
        "`-- prodready:review-required` line"
    )
    assert not exists(mdb, "public.notes")
    assert not exists(mdb, "prodready.migrations")

    up = directory / f"{widen.name}.up.sql"
    up.write_text(up.read_text().replace("-- prodready:review-required\n", ""))
    assert len(apply_migrations(mdb.dsn, directory).migrations) == 2


def test_directory_and_argument_errors(mdb: TestDatabase, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        apply_migrations(mdb.dsn, tmp_path / "nowhere")
    gap = write(tmp_path / "gap", CREATE_NOTES)
    (gap / "0003_late.up.sql").write_text("SELECT 1;\n")
    (gap / "0003_late.down.sql").write_text("SELECT 1;\n")
    with pytest.raises(UsageError, match="out of order: expected 0002, found 0003_late"):
        apply_migrations(mdb.dsn, gap)
    ok = write(tmp_path / "ok", CREATE_NOTES)
    with pytest.raises(UsageError, match=r"--to 2 is outside .* \(0 to 1\)"):
        rollback_migrations(mdb.dsn, ok, to=2)
    with pytest.raises(UsageError, match="lock timeout must be positive"):
        apply_migrations(mdb.dsn, ok, ApplyOptions(lock_timeout_ms=0))
    assert not exists(mdb, "prodready.migrations")


def test_sql_that_cannot_run_as_the_file_says_is_refused(mdb: TestDatabase, tmp_path: Path) -> None:
    wrapped = Migration(1, "wrapped", "BEGIN;\nCREATE TABLE t1 (x int);\nCOMMIT", "DROP TABLE t1")
    with pytest.raises(UsageError, match=r"0001_wrapped\.up\.sql: statement 1 controls the"):
        apply_migrations(mdb.dsn, write(tmp_path / "a", wrapped))
    in_tx = Migration(1, "cic", ADD_INDEX.up_sql, ADD_INDEX.down_sql, transactional=True)
    refused = (
        r"statement 1 \(CREATE INDEX CONCURRENTLY\) cannot run inside a transaction; "
        "add the line `-- prodready:transactional=false`"
    )
    with pytest.raises(UsageError, match=refused):
        apply_migrations(mdb.dsn, write(tmp_path / "b", in_tx))
    broken = Migration(1, "broken", "CREATE TABLE (", "SELECT 1")
    with pytest.raises(UsageError, match=r"0001_broken\.up\.sql: the SQL does not parse"):
        apply_migrations(mdb.dsn, write(tmp_path / "c", broken))
    assert not exists(mdb, "prodready.migrations")


# -- failures leave nothing half-applied, and the journal says so -------------------------------


def test_failing_hand_written_sql_leaves_no_trace_and_is_retried(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    bad = Migration(
        1,
        "hand_written",
        "CREATE TABLE public.audit (id int);\nINSERT INTO public.missing VALUES (1)",
        "DROP TABLE public.audit",
    )
    directory = write(tmp_path / "m", bad)

    with pytest.raises(MigrationError) as caught:
        apply_migrations(mdb.dsn, directory)

    message = str(caught.value)
    assert message == (
        '0001_hand_written failed at statement 2 of 2: relation "public.missing" does not '
        "exist; nothing of it was applied"
    )
    assert not exists(mdb, "public.audit")
    assert journal(mdb) == {
        1: ("failed", 0, 'relation "public.missing" does not exist (at statement 2 of 2)')
    }
    [row] = migration_status(mdb.dsn, directory)
    assert (row.status, row.applied, row.problem) == ("failed", False, None)

    # nothing was applied, so fixing the file is allowed and the next run applies it
    up = directory / f"{bad.name}.up.sql"
    up.write_text(up.read_text().replace("public.missing", "public.audit"))
    assert actions(apply_migrations(mdb.dsn, directory)) == [(bad.name, Action.APPLIED)]
    assert journal(mdb)[1][:2] == ("applied", 2)


def test_statement_timeout_fails_the_migration(mdb: TestDatabase, tmp_path: Path) -> None:
    slow = Migration(1, "slow", "CREATE TABLE public.t1 (x int);\nSELECT pg_sleep(2)", "SELECT 1")
    directory = write(tmp_path / "m", slow)

    with pytest.raises(MigrationError) as caught:
        apply_migrations(mdb.dsn, directory, ApplyOptions(statement_timeout_ms=100))

    assert str(caught.value) == (
        "0001_slow failed at statement 2 of 2: canceling statement due to statement timeout; "
        "nothing of it was applied"
    )
    assert not exists(mdb, "public.t1")


def test_a_migrations_settings_do_not_leak_into_the_next(mdb: TestDatabase, tmp_path: Path) -> None:
    wander = Migration(1, "wander", "SET search_path = nowhere", "SELECT 1")
    create = Migration(2, "create_t2", "CREATE TABLE t2 (x int)", "DROP TABLE t2")
    directory = write(tmp_path / "m", wander, create)

    apply_migrations(mdb.dsn, directory)

    assert exists(mdb, "public.t2")


@pytest.mark.parametrize(
    ("schema", "table", "index", "leftover"),
    [
        ("public", "orders", "orders_code_key", "orders_code_key"),
        ('odd "schema', "Or ders", 'we"ird; idx', 'we"ird; idx'),
        ("public", "orders", None, "orders_code_idx"),  # PostgreSQL names it
    ],
)
def test_failed_concurrent_unique_build_drops_its_invalid_index(
    mdb: TestDatabase, tmp_path: Path, schema: str, table: str, index: str | None, leftover: str
) -> None:
    relation = sql.Identifier(schema, table)
    mdb.execute(render(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))))
    mdb.execute(
        render(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} AS SELECT * FROM public.orders").format(relation)
        )
    )
    name = sql.Identifier(index) if index else sql.SQL("")
    unique = Migration(
        1,
        "unique_code",
        render(sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON {} (code)").format(name, relation)),
        render(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, leftover))
        ),
        transactional=False,
    )
    directory = write(tmp_path / "m", unique)
    events: list[str] = []

    with pytest.raises(MigrationError) as caught:
        apply_migrations(mdb.dsn, directory, on_event=events.append)

    assert str(caught.value) == (
        "0001_unique_code failed at statement 1 of 1: could not create unique index "
        f'"{leftover}"; 0 of 1 statements are done, the next apply resumes at statement 1'
    )
    assert index_state(mdb, leftover) is None
    qualified = render(sql.Identifier(schema, leftover))
    assert f"0001_unique_code: dropped the invalid index {qualified} a failed build left" in events
    status, steps, error = journal(mdb)[1]
    assert (status, steps) == ("failed", 0)
    assert error is not None and error.startswith(f'could not create unique index "{leftover}"')


def test_missing_privileges_are_target_errors(mdb: TestDatabase, tmp_path: Path) -> None:
    mdb.execute("CREATE ROLE app LOGIN PASSWORD 'app-secret'")
    dsn = mdb.dsn_as("app", "app-secret")
    secure = Migration(1, "secure_f", SECURE_FUNCTION.up_sql, SECURE_FUNCTION.down_sql)
    directory = write(tmp_path / "m", secure)

    with pytest.raises(TargetError) as refused:
        apply_migrations(dsn, directory)
    assert str(refused.value) == (
        f'role app cannot create the journal "prodready"."migrations" (permission denied for '
        f"database {mdb.name}): it needs CREATE on database {mdb.name}, or a DBA creates the "
        'schema for it (CREATE SCHEMA prodready AUTHORIZATION "app")'
    )

    # a DBA creates the journal for the role; the migration itself needs ownership of f
    mdb.execute("CREATE SCHEMA prodready AUTHORIZATION app")
    with pytest.raises(TargetError) as caught:
        apply_migrations(dsn, directory)
    assert str(caught.value) == (
        "0001_secure_f failed at statement 1 of 1: must be owner of function public.f; "
        "nothing of it was applied; role app lacks a privilege it needs"
    )
    assert journal(mdb)[1][0] == "failed"
    assert "app-secret" not in json.dumps(journal(mdb))


def test_a_read_only_database_is_refused(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)
    mdb.execute(f'ALTER DATABASE "{mdb.name}" SET default_transaction_read_only = on')

    with pytest.raises(TargetError, match="only allows read-only transactions"):
        apply_migrations(mdb.dsn, directory)
    # a dry run reads and is fine on a read-only target
    assert actions(apply_migrations(mdb.dsn, directory, ApplyOptions(dry_run=True))) == [
        (CREATE_NOTES.name, Action.WOULD_APPLY)
    ]


def test_replica_check_message() -> None:
    """pg_is_in_recovery() cannot be made true on the test cluster; the check is a function of
    its value, tested here directly."""
    with pytest.raises(TargetError) as caught:
        check_writable(True, True, "db.example:5432/app")
    assert str(caught.value) == (
        "db.example:5432/app is a read-only replica (in recovery); apply migrations on the primary"
    )
    check_writable(False, False, "db.example:5432/app")  # a primary passes


# -- concurrency: the advisory lock and lock_timeout retries ------------------------------------


def test_another_run_holding_the_advisory_lock_is_refused(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)
    with psycopg.connect(mdb.dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s::int4, %s::int4)", LOCK_KEY)
        pid = other.info.backend_pid
        with pytest.raises(
            MigrationError,
            match=rf"another prodready apply/rollback is running on .* \(pid {pid}\)",
        ):
            apply_migrations(mdb.dsn, directory)
    assert not exists(mdb, "public.notes")
    apply_migrations(mdb.dsn, directory)  # the lock went with the other session
    assert exists(mdb, "public.notes")


ADD_COLUMN = Migration(
    1,
    "add_note",
    "ALTER TABLE public.orders ADD COLUMN note text",
    "ALTER TABLE public.orders DROP COLUMN note",
)


def test_lock_timeout_is_retried_then_reported(mdb: TestDatabase, tmp_path: Path) -> None:
    directory = write(tmp_path / "m", ADD_COLUMN)
    events: list[str] = []
    with (
        holding(mdb, "LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE"),
        pytest.raises(MigrationError) as caught,
    ):
        apply_migrations(mdb.dsn, directory, FAST, on_event=events.append)

    assert str(caught.value).startswith(
        "0001_add_note: gave up at statement 1 of 1 after 3 attempts to get its locks "
        "(lock_timeout 200 ms each): canceling statement due to lock timeout; "
    )
    assert str(caught.value).endswith("nothing of it was applied")
    retries = [e for e in events if "lock timeout at statement 1" in e]
    assert [e.split(";")[0] for e in retries] == [
        "0001_add_note: lock timeout at statement 1 (attempt 1 of 3)",
        "0001_add_note: lock timeout at statement 1 (attempt 2 of 3)",
    ]
    assert mdb.query("SELECT count(*) FROM pg_attribute WHERE attname = 'note'") == [(0,)]
    assert journal(mdb)[1][0] == "failed"


def test_lock_released_during_retries_lets_the_migration_through(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", ADD_COLUMN)
    options = ApplyOptions(lock_timeout_ms=100, retries=30, backoff_base_s=0.02, backoff_max_s=0.1)
    with holding(mdb, "LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE") as blocker:
        timer = threading.Timer(0.6, blocker.rollback)
        timer.start()
        try:
            result = apply_migrations(mdb.dsn, directory, options)
        finally:
            timer.cancel()
            timer.join(5)

    [outcome] = result.migrations
    assert outcome.action is Action.APPLIED and outcome.attempts > 1
    assert journal(mdb)[1][0] == "applied"


def test_a_concurrent_build_timing_out_on_locks_never_reports_its_invalid_index_as_done(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    """CREATE INDEX CONCURRENTLY waits for open writers; when lock_timeout ends the wait, the
    index it registered is left INVALID, and a retry with IF NOT EXISTS would silently keep it.
    While the writer stays, the leftover cannot be dropped either: the error says so, and the
    next run drops it first."""
    directory = write(tmp_path / "m", ADD_INDEX)
    with holding(mdb, "INSERT INTO public.orders VALUES (100000, 1, 'x', now())"):
        with pytest.raises(MigrationError) as caught:
            apply_migrations(mdb.dsn, directory, FAST)
        assert index_state(mdb, "orders_buyer_id_idx") is False
    assert str(caught.value).startswith(
        "0001_add_index_orders_buyer_id: gave up at statement 1 of 1 after 3 attempts"
    )
    assert str(caught.value).endswith(
        "0 of 1 statements are done, the next apply resumes at statement 1; the invalid index "
        '"public"."orders_buyer_id_idx" could not be dropped (canceling statement due to lock '
        'timeout): run DROP INDEX CONCURRENTLY "public"."orders_buyer_id_idx"'
    )
    assert journal(mdb)[1][:2] == ("failed", 0)
    events: list[str] = []

    result = apply_migrations(mdb.dsn, directory, FAST, on_event=events.append)

    assert result.migrations[0].action is Action.APPLIED
    assert (
        '0001_add_index_orders_buyer_id: dropped the invalid index "public"."orders_buyer_id_idx" '
        "a failed build left" in events
    )
    assert index_state(mdb, "orders_buyer_id_idx") is True


# -- interruptions: Ctrl-C leaves a truthful journal and the next run resumes -------------------


THREE_INDEXES = Migration(
    1,
    "three_indexes",
    ";\n".join(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_{c}_idx" ON "public"."orders" ("{c}")'
        for c in ("buyer_id", "code", "created_at")
    ),
    ";\n".join(
        f'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_{c}_idx"'
        for c in ("created_at", "code", "buyer_id")
    ),
    transactional=False,
)


def test_ctrl_c_between_statements_resumes_at_the_next_one(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    mdb.execute("DROP INDEX orders_created_idx")
    directory = write(tmp_path / "m", THREE_INDEXES)

    with pytest.raises(KeyboardInterrupt):
        apply_migrations(
            mdb.dsn, directory, on_event=interrupt_at("0001_three_indexes statement 2/3")
        )

    assert journal(mdb) == {1: ("interrupted", 1, "interrupted (Ctrl-C) (at statement 2 of 3)")}
    assert [index_state(mdb, f"orders_{c}_idx") for c in ("buyer_id", "code")] == [True, None]
    [row] = migration_status(mdb.dsn, directory)
    assert (row.status, row.applied, row.steps_done, row.statements) == ("interrupted", True, 1, 3)
    assert "1 of 3 statements done" in render_status([row])

    result = apply_migrations(mdb.dsn, directory)

    [outcome] = result.migrations
    assert (outcome.action, outcome.resumed_from, outcome.statements) == (Action.APPLIED, 1, 2)
    assert journal(mdb) == {1: ("applied", 3, None)}
    assert all(index_state(mdb, f"orders_{c}_idx") for c in ("buyer_id", "code", "created_at"))


def test_ctrl_c_inside_a_transactional_migration_leaves_nothing(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    directory = write(tmp_path / "m", CREATE_NOTES)

    with pytest.raises(KeyboardInterrupt):
        apply_migrations(
            mdb.dsn, directory, on_event=interrupt_at("0001_create_notes statement 3/3")
        )

    assert not exists(mdb, "public.notes")
    assert journal(mdb) == {1: ("interrupted", 0, "interrupted (Ctrl-C) (at statement 3 of 3)")}
    assert apply_migrations(mdb.dsn, directory).migrations[0].resumed_from == 0
    assert exists(mdb, "public.notes")


def test_ctrl_c_during_a_concurrent_build_cancels_it_and_drops_the_leftover(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    """A real SIGINT while CREATE INDEX CONCURRENTLY waits for an open writer: psycopg cancels
    the statement, the invalid index is dropped once the writer is gone, the journal says
    interrupted, and the next run builds the index."""
    directory = write(tmp_path / "m", ADD_INDEX)
    options = ApplyOptions(lock_timeout_ms=15_000)
    with holding(mdb, "INSERT INTO public.orders VALUES (100000, 1, 'x', now())") as writer:

        def press_ctrl_c_once_waiting() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                waiting = mdb.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'prodready' "
                    "AND wait_event_type = 'Lock' AND query LIKE 'CREATE INDEX%%'"
                )[0][0]
                if waiting:
                    break
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            writer.rollback()  # lets DROP INDEX CONCURRENTLY of the leftover through

        presser = threading.Thread(target=press_ctrl_c_once_waiting, daemon=True)
        presser.start()
        events: list[str] = []
        try:
            with pytest.raises(KeyboardInterrupt):
                apply_migrations(mdb.dsn, directory, options, on_event=events.append)
        finally:
            presser.join(15)

    assert events[-1] == (
        '0001_add_index_orders_buyer_id: dropped the invalid index "public"."orders_buyer_id_idx" '
        "a failed build left"
    )
    assert index_state(mdb, "orders_buyer_id_idx") is None
    status, steps, error = journal(mdb)[1]
    assert (status, steps) == ("interrupted", 0) and error is not None
    assert apply_migrations(mdb.dsn, directory).migrations[0].action is Action.APPLIED
    assert index_state(mdb, "orders_buyer_id_idx") is True


def test_resume_after_a_crash_counts_a_finished_build_and_drops_an_invalid_one(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    """A run that died (kill -9) leaves its row 'running'. Statement 1 had in fact finished
    (its index is valid): it is not run again. An invalid leftover of statement 2's name is
    dropped before the statement is rebuilt."""
    mdb.execute("DROP INDEX orders_created_idx")
    directory = write(tmp_path / "m", THREE_INDEXES)
    [migration] = read_migrations(directory)
    mdb.execute('CREATE INDEX "orders_buyer_id_idx" ON public.orders (buyer_id)')
    mdb.execute("UPDATE public.orders SET code = 'dup'")
    with pytest.raises(psycopg.errors.UniqueViolation):
        mdb.execute('CREATE UNIQUE INDEX CONCURRENTLY "orders_code_idx" ON public.orders (code)')
    assert index_state(mdb, "orders_code_idx") is False
    with psycopg.connect(mdb.dsn, autocommit=True) as conn:  # the row as the dead run left it
        journal_table.ensure(conn)
        journal_table.record(
            conn,
            number=1,
            name=migration.name,
            checksum=migration.checksum,
            status=Status.RUNNING,
            steps_done=0,
        )
    events: list[str] = []

    result = apply_migrations(mdb.dsn, directory, on_event=events.append)

    assert result.migrations[0].action is Action.APPLIED
    assert "0001_three_indexes: statement 1 had completed before; skipped" in events
    assert any("dropped the invalid index" in e and "orders_code_idx" in e for e in events)
    assert all(index_state(mdb, f"orders_{c}_idx") for c in ("buyer_id", "code", "created_at"))
    assert journal(mdb) == {1: ("applied", 3, None)}


def test_ctrl_c_during_rollback_is_finished_by_the_next_rollback(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    mdb.execute("DROP INDEX orders_created_idx")
    directory = write(tmp_path / "m", THREE_INDEXES)
    apply_migrations(mdb.dsn, directory)

    with pytest.raises(KeyboardInterrupt):
        rollback_migrations(
            mdb.dsn, directory, 0, on_event=interrupt_at("0001_three_indexes statement 3/3")
        )

    assert journal(mdb)[1][:2] == ("rollback_interrupted", 2)
    unfinished = (
        r"its rollback stopped after 2 statement\(s\) \(rollback_interrupted\); "
        "finish it first with rollback --to 0"
    )
    with pytest.raises(MigrationError, match=unfinished):
        apply_migrations(mdb.dsn, directory)

    [outcome] = rollback_migrations(mdb.dsn, directory, 0).migrations
    assert (outcome.action, outcome.resumed_from, outcome.statements) == (
        Action.ROLLED_BACK,
        2,
        1,
    )
    assert [index_state(mdb, f"orders_{c}_idx") for c in ("buyer_id", "code", "created_at")] == [
        None
    ] * 3
    assert journal(mdb) == {1: ("rolled_back", 3, None)}


# -- pure helpers -------------------------------------------------------------------------------


def test_backoff_is_exponential_jittered_and_capped() -> None:
    assert [backoff_delay(k, 0.5, 10, rand=1.0) for k in (1, 2, 3, 4, 5, 6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
    ]
    assert backoff_delay(3, 0.5, 10, rand=0.0) == 1.0  # jitter keeps at least half
    assert all(0.25 <= backoff_delay(2, 0.5, 10) <= 1.0 for _ in range(100))


def test_render_result_terminal_and_json() -> None:
    result = ApplyResult(
        "apply",
        "127.0.0.1:5432/app",
        False,
        [
            MigrationOutcome(1, "0001_a", Action.SKIPPED, True, note="already applied"),
            MigrationOutcome(2, "0002_bb", Action.APPLIED, False, 2, 1, 3, 40),
        ],
    )
    assert render_result(result, "terminal") == (
        "prodready apply on 127.0.0.1:5432/app\n"
        "  skipped         0001_a   already applied\n"
        "  applied         0002_bb  2 statements, resumed at statement 2, 3 attempts, 40 ms, "
        "non-transactional\n"
        "2 migrations: 1 applied, 1 skipped\n"
    )
    data = json.loads(render_result(result, "json"))
    assert data["migrations"][1] == {
        "number": 2,
        "name": "0002_bb",
        "action": "applied",
        "transactional": False,
        "statements": 2,
        "resumed_from": 1,
        "attempts": 3,
        "duration_ms": 40,
        "note": None,
    }
    assert data["summary"]["applied"] == 1 and data["summary"]["skipped"] == 1
    with pytest.raises(UsageError):
        render_result(result, "xml")


def test_a_grouped_concurrent_migration_resumes_at_the_statement_that_failed(
    mdb: TestDatabase, tmp_path: Path
) -> None:
    from prodready.migrate.generate import plan_fixes
    from prodready.migrate.model import write_migrations

    mdb.execute(
        """
        CREATE TABLE g_users (id int PRIMARY KEY);
        CREATE TABLE g_a (id int, user_id int REFERENCES g_users);
        CREATE TABLE g_b (id int, user_id int REFERENCES g_users);
        CREATE TABLE g_c (id int, user_id int REFERENCES g_users);
        """
    )
    report = {"findings": [f.to_json() for f in mdb.findings("unindexed_foreign_key")]}
    [grouped] = plan_fixes(report, group="kind").migrations
    assert grouped.up_sql.count("CREATE INDEX CONCURRENTLY") == 3
    directory = tmp_path / "m"
    write_migrations(directory, [grouped])
    mdb.execute("ALTER TABLE g_b RENAME TO g_b_moved")  # statement 2 of 3 will fail
    with pytest.raises(MigrationError, match="at statement 2 of 3"):
        apply_migrations(mdb.dsn, directory)
    assert journal(mdb)[1][:2] == ("failed", 1)
    assert index_state(mdb, "g_a_user_id_idx") is True
    mdb.execute("ALTER TABLE g_b_moved RENAME TO g_b")
    assert actions(apply_migrations(mdb.dsn, directory)) == [(grouped.name, Action.APPLIED)]
    assert journal(mdb)[1][:2] == ("applied", 3)
    assert all(index_state(mdb, f"g_{t}_user_id_idx") for t in "abc")
    rollback_migrations(mdb.dsn, directory, to=0)
    assert not any(index_state(mdb, f"g_{t}_user_id_idx") for t in "abc")
