"""The audit is safe on production: read-only, AccessShareLock at most, never stuck behind DDL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from prodready.db.collect import collect, collect_from
from prodready.pg.connection import SessionLimits, connect
from tests.conftest import TestDatabase


@pytest.fixture(scope="module")
def many_tables(db: TestDatabase) -> TestDatabase:
    db.execute(
        """
        DO $$ BEGIN
          FOR i IN 1..150 LOOP
            EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, parent int REFERENCES t%s(id),
                            note text, at timestamptz DEFAULT now())', i, greatest(i - 1, 1));
            EXECUTE format('CREATE INDEX ON t%s (at)', i);
            EXECUTE format('INSERT INTO t%s (note) SELECT md5(g::text)
                            FROM generate_series(1, 20) g', i);
          END LOOP;
        END $$;
        """
    )
    return db


def test_audit_session_is_read_only_with_timeouts(db: TestDatabase) -> None:
    limits = SessionLimits(statement_timeout_ms=12_345, lock_timeout_ms=678)
    with connect(db.dsn, limits=limits) as conn:
        show = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "default_transaction_read_only",
                "application_name",
                "statement_timeout",
                "lock_timeout",
            )
        }
        assert show == {
            "default_transaction_read_only": "on",
            "application_name": "prodready",
            "statement_timeout": "12345ms",
            "lock_timeout": "678ms",
        }
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE must_not_exist (id int)")


def test_collector_takes_nothing_stronger_than_access_share(many_tables: TestDatabase) -> None:
    seen: set[str] = set()
    samples = 0
    done = threading.Event()
    errors: list[BaseException] = []

    def audit_repeatedly() -> None:
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                collect(many_tables.dsn)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=audit_repeatedly)
    worker.start()
    with psycopg.connect(many_tables.dsn, autocommit=True) as watcher:
        while not done.is_set():
            rows = watcher.execute(
                """
                SELECT l.mode
                FROM pg_locks l
                JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE a.application_name = 'prodready' AND l.locktype = 'relation'
                """
            ).fetchall()
            seen.update(mode for (mode,) in rows)
            samples += 1
    worker.join()
    assert not errors, errors
    assert samples > 20
    assert seen, "the watcher never caught the collector holding a lock; sampling proves nothing"
    assert seen == {"AccessShareLock"}


def test_collector_is_not_stuck_behind_ddl(many_tables: TestDatabase) -> None:
    """A table under ACCESS EXCLUSIVE: sizes fall back to estimates after lock_timeout."""
    with psycopg.connect(many_tables.dsn) as blocker:
        blocker.execute("LOCK TABLE t7 IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        snap = collect(many_tables.dsn, limits=SessionLimits(lock_timeout_ms=500))
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert elapsed < 10
    assert snap.limited("locks") is not None
    t7 = snap.table("public", "t7")
    assert t7 is not None and t7.total_bytes is None
    assert snap.locked_tables == ["public.t7"]
    assert not [i for i in snap.indexes if i.table == "t7"]
    assert all(i.size_bytes is not None for i in snap.indexes)
    assert snap.table("public", "t8") is not None and snap.table("public", "t8").total_bytes


def test_user_connection_options_are_kept_alongside_read_only(db: TestDatabase) -> None:
    dsn = db.dsn + " options='-c search_path=pg_catalog'"
    with connect(dsn) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("pg_catalog",)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)


def test_side_session_reads_what_one_session_reads(many_tables: TestDatabase) -> None:
    """Indexes and sizes from the second session (in the exported snapshot) are exactly what
    a single session reads."""
    with connect(many_tables.dsn, apply_limits=False) as conn:
        alone = collect_from(conn)
    shared = collect(many_tables.dsn)
    assert shared.limitations == alone.limitations == []
    assert shared.indexes == alone.indexes and len(shared.indexes) >= 300
    assert shared.tables == alone.tables and all(t.total_bytes for t in shared.tables)
    assert shared.sequences == alone.sequences and len(shared.sequences) >= 150


def test_side_session_refused_falls_back_to_one_session(many_tables: TestDatabase) -> None:
    """A role allowed one connection still gets a complete snapshot, read in turn."""
    many_tables.execute(
        "CREATE ROLE one_conn LOGIN PASSWORD 'pw-one' CONNECTION LIMIT 1 IN ROLE pg_monitor;"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO one_conn;"
        "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO one_conn"
    )
    snap = collect(many_tables.dsn_as("one_conn", "pw-one"))
    side = snap.limited("side_session")
    assert side is not None and "too many connections" in side.reason
    assert "pw-one" not in side.reason
    assert len(snap.indexes) >= 300 and all(i.size_bytes for i in snap.indexes)
    assert all(t.total_bytes for t in snap.tables if t.name.startswith("t"))
    assert snap.sequences and all(s.last_value is not None for s in snap.sequences)
