"""Hostile identifiers: every generated fix and rollback parses with pglast and runs."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast import parse_sql
from psycopg import sql

from prodready.model import Finding
from prodready.registry import run_checks
from tests.conftest import TestDatabase

RESERVED = ["select", "order", "user", "Group", "from", "table", "check", "default", "limit"]

name_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=24,
)
identifier = st.one_of(
    st.sampled_from(RESERVED),
    name_text,
    st.sampled_from(['we"ird', "with space", "ünïcødé_名前", "x" * 63, "é" * 31 + "z"]),
).filter(lambda name: len(name.encode()) <= 63 and not name.lower().startswith("pg_"))


def fits(name: str, suffix: str) -> str:
    """`name` plus a suffix, trimmed so the result stays within PostgreSQL's 63 bytes."""
    raw = name.encode()[: 63 - len(suffix.encode())]
    return raw.decode(errors="ignore") + suffix


def build_schema(db: TestDatabase, names: list[str]) -> None:
    schema, parent, child, column, function, constraint = names
    ident = sql.Identifier
    statements = [
        sql.SQL("CREATE SCHEMA {}").format(ident(schema)),
        sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY)").format(ident(schema), ident(parent)),
        sql.SQL(
            "CREATE TABLE {}.{} (id int PRIMARY KEY, {} int REFERENCES {}.{} (id), note text)"
        ).format(ident(schema), ident(child), ident(column), ident(schema), ident(parent)),
        sql.SQL("CREATE INDEX {} ON {}.{} (note)").format(
            ident(fits(child, "_a")), ident(schema), ident(child)
        ),
        sql.SQL("CREATE INDEX {} ON {}.{} (note)").format(
            ident(fits(child, "_b")), ident(schema), ident(child)
        ),
        sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} CHECK (id > 0) NOT VALID").format(
            ident(schema), ident(child), ident(constraint)
        ),
        sql.SQL(
            "CREATE FUNCTION {}.{}(a int) RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT a'"
        ).format(ident(schema), ident(function)),
        sql.SQL("CREATE POLICY {} ON {}.{} USING (true)").format(
            ident(fits(parent, "_p")), ident(schema), ident(parent)
        ),
    ]
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def drop_schema(db: TestDatabase, schema: str) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def findings_in(db: TestDatabase, schema_display: str) -> list[Finding]:
    run = run_checks(db.snapshot(), strict=True)
    return [f for f in run.findings if f.object.startswith(schema_display + ".")]


@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=st.lists(identifier, min_size=6, max_size=6, unique_by=str.lower))
def test_generated_sql_quotes_hostile_identifiers(db: TestDatabase, names: list[str]) -> None:
    from prodready.db.snapshot import quote_ident

    schema = names[0]
    drop_schema(db, schema)
    try:
        build_schema(db, names)
        findings = [f for f in findings_in(db, quote_ident(schema)) if f.fix is not None]
        fixed_checks = {f.check for f in findings}
        assert {"unindexed_foreign_key", "security_definer_function_search_path"} <= fixed_checks
        for finding in findings:
            assert finding.fix is not None
            parse_sql(finding.fix.sql)  # raises on anything that is not valid SQL
            if finding.fix.rollback_sql:
                parse_sql(finding.fix.rollback_sql)
            if finding.fix.needs_review:
                continue  # reviewed-by-hand changes (type rewrites, revokes) are not auto-run
            db.run_script(finding.fix.sql)
            keys = {f.key for f in findings_in(db, quote_ident(schema))}
            assert finding.key not in keys, f"fix did not resolve {finding.key}"
            if finding.fix.rollback_sql:
                db.run_script(finding.fix.rollback_sql)
                keys = {f.key for f in findings_in(db, quote_ident(schema))}
                assert finding.key in keys, f"rollback did not restore {finding.key}"
    finally:
        drop_schema(db, schema)


@pytest.mark.slow
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=st.lists(identifier, min_size=6, max_size=6, unique_by=str.lower))
def test_migrations_round_trip_hostile_identifiers(
    db: TestDatabase, tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    """fix → apply → rollback --to 0 on hostile names: file names stay safe, the schema returns."""
    from prodready.migrate.apply import apply_migrations, rollback_migrations
    from prodready.migrate.generate import plan_fixes
    from prodready.migrate.model import read_migrations, write_migrations
    from prodready.pg.dump import schema_dump
    from prodready.report.plan import build_report

    schema = names[0]
    drop_schema(db, schema)
    directory = tmp_path_factory.mktemp("migrations")
    try:
        build_schema(db, names)
        snap = db.snapshot()
        report = build_report(snap, run_checks(snap, strict=True)).to_json()
        plan = plan_fixes(report, include_review=False)
        assert plan.migrations, "the hostile schema has unindexed FKs and duplicate indexes"
        write_migrations(directory, plan.migrations)
        assert all(m.name.isascii() for m in read_migrations(directory))
        before = schema_dump(db.dsn, bindir=db.cluster.bindir)
        applied = apply_migrations(db.dsn, directory)
        assert {str(m.action) for m in applied.migrations} == {"applied"}
        rollback_migrations(db.dsn, directory, 0)
        assert schema_dump(db.dsn, bindir=db.cluster.bindir) == before
    finally:
        drop_schema(db, schema)
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS prodready CASCADE")
