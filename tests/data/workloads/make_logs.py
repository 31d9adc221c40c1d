"""Regenerate the sample server logs: a real PostgreSQL logging every statement.

    .venv/bin/python -m tests.data.workloads.make_logs

starts a throwaway cluster with log_min_duration_statement = 0 and stderr + csvlog output,
runs `run_sample_session`, and copies the logs here as sample_stderr.log and sample_csvlog.csv.
The integration tests run the same session against the test cluster and parse its log live.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from prodready.pg.cluster import LocalCluster

HERE = Path(__file__).parent

LOG_SETTINGS = {
    "logging_collector": "on",
    "log_destination": "'stderr,csvlog'",
    "log_directory": "'log'",
    "log_filename": "'postgresql.log'",
    "log_min_duration_statement": "0",
}

SCHEMA = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    status text NOT NULL DEFAULT 'active',
    plan text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    kind text NOT NULL,
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO accounts (email, status, created_at)
SELECT 'user' || i || '@example.com', CASE WHEN i % 10 = 0 THEN 'suspended' ELSE 'active' END,
       now() - i * interval '1 hour'
FROM generate_series(1, 200) AS i;
INSERT INTO events (account_id, kind) SELECT 1 + i % 200, 'login' FROM generate_series(1, 500) i;
ANALYZE accounts, events;
"""

RECENT_ACCOUNTS = """SELECT id, email
FROM accounts
WHERE status = %s
  AND created_at > %s
ORDER BY created_at DESC
LIMIT %s"""


def run_sample_session(dsn: str) -> None:
    """The statements the sample logs hold: every form the log reader must understand."""
    since = datetime(2024, 1, 1, tzinfo=UTC)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET log_min_duration_statement = -1")
        conn.execute(SCHEMA)
        conn.execute("SET log_min_duration_statement = 0")
        # extended protocol: parse/bind/execute lines with a `parameters:` detail line
        for params in (("active", since, 10), ("active", since, 10), ("suspended", since, 20)):
            conn.execute(RECENT_ACCOUNTS, params)
        for params in ((5, None), (5, "login"), (7, "login")):
            conn.execute("SELECT count(*) FROM events WHERE account_id = %s AND kind = %s", params)
        conn.execute(
            "INSERT INTO events (account_id, kind, payload) VALUES (%s, %s, %s)",
            (3, "it's a\nmulti-line; value", None),
        )
        # a named prepared statement: `execute _pg3_0: ...`
        for account in (1, 2, 1):
            conn.execute("SELECT email FROM accounts WHERE id = %s", (account,), prepare=True)
        # simple protocol: `statement: ...` with literals, one of them spanning lines
        conn.execute("SELECT id FROM accounts WHERE email = 'a;b@example.com'")
        conn.execute("SELECT id FROM accounts WHERE email = 'c@example.com'")
        conn.execute("UPDATE accounts\n   SET plan = 'pro'\n WHERE id = 3")
        conn.execute("/* prodready */ SELECT count(*) FROM accounts")
        conn.execute("CREATE TEMP TABLE scratch (id int)")
        conn.execute("SELECT count(*) FROM scratch")
        with contextlib.suppress(psycopg.errors.UndefinedColumn):  # ERROR + STATEMENT lines
            conn.execute("SELECT nope FROM accounts")
        with conn.transaction():  # BEGIN / COMMIT are session noise
            conn.execute("SELECT plan FROM accounts WHERE id = 4")
        # log_statement = 'all': the text first, then a duration-only line
        conn.execute("SET log_statement = 'all'")
        conn.execute("SELECT kind FROM events WHERE account_id = 9 ORDER BY id LIMIT 5")
        conn.execute("SET log_statement = 'none'")


def main() -> None:
    with LocalCluster(settings=LOG_SETTINGS) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
        run_sample_session(cluster.dsn("shop"))
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_rotate_logfile()")  # flushes the collector's buffers
        logdir = cluster.datadir / "log"
        shutil.copyfile(logdir / "postgresql.log", HERE / "sample_stderr.log")
        shutil.copyfile(logdir / "postgresql.csv", HERE / "sample_csvlog.csv")


if __name__ == "__main__":
    main()
