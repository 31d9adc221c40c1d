"""`--db`: the database is sampled on one read-only session while the load runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from bench.load_servers import running
from prodready.errors import TargetError
from prodready.load import LoadOptions, run_load
from tests.conftest import TestDatabase


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running() as port:
        yield f"http://127.0.0.1:{port}/"


def busy_app(dsn: str, stop: threading.Event) -> None:
    """Stands in for the app behind the URL: one hot query, a few open connections."""
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(3)]
    try:
        while not stop.is_set():
            conns[0].execute("SELECT count(*) FROM load_items WHERE id % 7 = 3").fetchone()
            conns[1].execute("SELECT 1").fetchone()
            time.sleep(0.005)
    finally:
        for conn in conns:
            conn.close()


def test_the_database_under_load(db: TestDatabase, server: str) -> None:
    db.execute("CREATE TABLE load_items AS SELECT g AS id FROM generate_series(1, 20000) g")
    db.execute("SELECT pg_stat_statements_reset()")
    stop = threading.Event()
    app = threading.Thread(target=busy_app, args=(db.dsn, stop))
    app.start()
    try:
        report = run_load(LoadOptions(url=server, rate=20, duration=2.5, db=db.dsn))
    finally:
        stop.set()
        app.join(timeout=30)
    database = report.database
    assert database is not None and database.database == db.name
    assert database.samples >= 2
    assert database.max_connections > 0
    assert 3 <= database.peak_connections < database.max_connections  # the app's 3, not ours
    assert database.statements and "load_items" in database.statements[0].query
    assert database.statements[0].share > 0.5 and database.statements[0].calls > 10
    assert database.cache_hit_ratio is not None and 0 < database.cache_hit_ratio <= 1
    assert database.commits > 0
    checks = {f.check: f for f in report.findings}
    assert checks["load_db_connections"].severity.label == "info"
    assert checks["load_db_top_statement"].severity.label == "medium"
    assert "load_items" in checks["load_db_top_statement"].object
    assert "load_db_cache_hit_ratio" in checks
    data = report.to_json()["database"]
    assert data["top_statements"][0]["calls"] > 10 and data["limitations"] == []
    # the sampler's session is gone, and it never wrote
    rows = db.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'prodready'"
        " AND datname = current_database()"
    )
    assert rows == [(0,)]


def test_a_database_that_cannot_be_reached_stops_the_run_before_any_load(server: str) -> None:
    from prodready.pg.cluster import free_port

    dsn = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    with pytest.raises(TargetError, match="connection refused"):
        run_load(LoadOptions(url=server, rate=10, duration=1, db=dsn))
