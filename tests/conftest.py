"""One PostgreSQL cluster per test run; a fresh database per test module, cloned from a template."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from prodready.config import Config
from prodready.db.collect import collect
from prodready.db.snapshot import Snapshot
from prodready.model import Finding
from prodready.pg.cluster import LocalCluster
from prodready.registry import run_checks
from prodready.sqlgen import split_statements

TEMPLATE = "prodready_template"
_counter = itertools.count(1)


@dataclass
class TestDatabase:
    """A database of the test cluster; every helper opens and closes its own connection."""

    __test__ = False
    cluster: LocalCluster
    name: str

    @property
    def dsn(self) -> str:
        return self.cluster.dsn(self.name)

    def dsn_as(self, user: str, password: str) -> str:
        return self.cluster.dsn(self.name, user=user, password=password)

    def execute(self, sql_text: str, params: Any = None) -> None:
        """Run SQL as superuser in autocommit, then flush statistics so a snapshot sees them."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql_text, params)
            conn.execute("SELECT pg_stat_force_next_flush()")

    def query(self, sql_text: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql_text, params).fetchall()

    def run_script(self, script: str) -> None:
        """Run each statement in its own call (CONCURRENTLY refuses a transaction block)."""
        for statement in split_statements(script):
            self.execute(statement)

    def apply(self, script: str, transactional: bool = True) -> None:
        """Run a fix or rollback: as one implicit transaction, or statement by statement."""
        if transactional:
            self.execute(script)
        else:
            self.run_script(script)

    def snapshot(self, dsn: str | None = None) -> Snapshot:
        return collect(dsn or self.dsn)

    def findings(
        self, check_id: str, snapshot: Snapshot | None = None, config: Config | None = None
    ) -> list[Finding]:
        """Findings of one check against a fresh snapshot (failing checks raise)."""
        snap = snapshot or self.snapshot()
        return run_checks(snap, config, only=[check_id], strict=True).findings

    def findings_about(
        self, check_id: str, obj: str, snapshot: Snapshot | None = None, **options: object
    ) -> list[Finding]:
        """Findings of one check about one object, with check options for this call."""
        config = Config(options={check_id: dict(options)}) if options else None
        return [x for x in self.findings(check_id, snapshot, config) if x.object == obj]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster().start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with psycopg.connect(cluster.dsn(TEMPLATE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        yield cluster
    finally:
        cluster.stop()


def create_database(cluster: LocalCluster, prefix: str = "t") -> TestDatabase:
    name = f"{prefix}_{next(_counter)}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(TEMPLATE)
            )
        )
    return TestDatabase(cluster, name)


def drop_database(db: TestDatabase) -> None:
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(db.name)
            )
        )


@pytest.fixture(scope="module")
def db(pg_cluster: LocalCluster) -> Iterator[TestDatabase]:
    """A fresh database for this test module, with pg_stat_statements installed."""
    database = create_database(pg_cluster)
    yield database
    drop_database(database)


@pytest.fixture
def fresh_db(pg_cluster: LocalCluster) -> Iterator[TestDatabase]:
    """A fresh database for one test, when a module's tests must not see each other."""
    database = create_database(pg_cluster, "f")
    yield database
    drop_database(database)
