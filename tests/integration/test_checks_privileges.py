"""Privilege checks on a real database: definer views, extensions, schemas, roles, secrets."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from prodready.config import Config
from prodready.model import Severity
from prodready.pg.cluster import LocalCluster
from tests.conftest import TestDatabase
from tests.integration.test_checks_rls import (
    LoginRoles,
    assert_fix_round_trip,
    found,
    module_roles,
    prepare_supabase,
    run_as,
    single_role_app,
)


@pytest.fixture(scope="module")
def roles(db: TestDatabase) -> Iterator[LoginRoles]:
    prepare_supabase(db)
    with module_roles(db) as created:
        yield created


def _ident(name: str) -> str:
    return sql.Identifier(name).as_string(None)


# -- security_definer_view --


def test_security_definer_view_fix_and_rollback(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        '''
        CREATE TABLE accounts (id int, owner_id uuid, balance numeric);
        ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
        GRANT SELECT ON accounts TO authenticated;
        CREATE POLICY own ON accounts FOR SELECT TO authenticated USING (owner_id = auth.uid());
        CREATE VIEW "Account Balances ""v""" AS SELECT id, balance FROM accounts;
        GRANT SELECT ON "Account Balances ""v""" TO anon, authenticated;
        CREATE VIEW invoker_view WITH (security_invoker = on) AS SELECT id FROM accounts;
        GRANT SELECT ON invoker_view TO anon;
        CREATE VIEW unexposed_view AS SELECT id FROM accounts;
        '''
    )
    objects = found(db, "security_definer_view")
    assert "public.invoker_view" not in objects and "public.unexposed_view" not in objects
    finding = objects['public."Account Balances ""v"""']
    assert finding.severity == Severity.HIGH
    assert finding.evidence["owner"] == "postgres"
    assert finding.evidence["exposed_to"] == ["anon", "authenticated"]
    assert_fix_round_trip(db, "security_definer_view", finding)


def test_security_definer_view_silent_without_rls(
    pg_cluster: LocalCluster, roles: LoginRoles
) -> None:
    # A reporting view granted to a second login role, in a database that uses no RLS.
    with single_role_app(pg_cluster, roles) as app_db:
        app = roles.created[-1]
        reader = roles.create("view_reader")
        run_as(
            roles.dsn(app, app_db),
            f"CREATE TABLE sales (id int, amount numeric);"
            f"CREATE VIEW sales_summary AS SELECT sum(amount) FROM sales;"
            f"GRANT SELECT ON sales_summary TO {_ident(reader)};",
        )
        assert app_db.findings("security_definer_view") == []
        app_db.execute(f"DROP OWNED BY {_ident(reader)}")


# -- extension_in_public --


def test_extension_in_public_fix_and_rollback(fresh_db: TestDatabase) -> None:
    prepare_supabase(fresh_db)
    fresh_db.execute("CREATE EXTENSION pgcrypto; CREATE EXTENSION xml2")
    objects = found(fresh_db, "extension_in_public")
    assert set(objects) == {"public (pg_stat_statements)", "public (pgcrypto)", "public (xml2)"}
    assert objects["public (xml2)"].fix is None
    assert objects["public (xml2)"].evidence["relocatable"] is False
    finding = objects["public (pgcrypto)"]
    assert finding.severity == Severity.LOW
    assert finding.evidence["api_roles"] == ["anon", "authenticated"]
    assert_fix_round_trip(fresh_db, "extension_in_public", finding)


def test_extension_in_public_silent_without_api_roles(fresh_db: TestDatabase) -> None:
    fresh_db.execute("CREATE EXTENSION pgcrypto")
    assert fresh_db.findings("extension_in_public") == []


# -- public_schema_create --


def test_public_schema_create_keeps_the_app_able_to_migrate(
    fresh_db: TestDatabase, roles: LoginRoles
) -> None:
    # The PostgreSQL 14 picture: the app role creates its tables through PUBLIC's CREATE.
    app = roles.create("pg14_app")
    fresh_db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    run_as(roles.dsn(app, fresh_db), "CREATE TABLE app_orders (id int)")
    finding = found(fresh_db, "public_schema_create")["public"]
    assert finding.evidence["granted_to_owners"] == [app]
    assert_fix_round_trip(fresh_db, "public_schema_create", finding)
    fresh_db.execute(finding.fix.sql if finding.fix else "")
    run_as(roles.dsn(app, fresh_db), "CREATE TABLE app_orders_2 (id int)")
    assert fresh_db.query("SELECT has_schema_privilege('public', 'public', 'CREATE')") == [(False,)]


def test_public_schema_create_fix_and_rollback(fresh_db: TestDatabase) -> None:
    assert fresh_db.findings("public_schema_create") == []  # PostgreSQL 15's default
    fresh_db.execute(
        'GRANT CREATE ON SCHEMA public TO PUBLIC; CREATE SCHEMA "Shared ""ns"""; '
        'GRANT USAGE, CREATE ON SCHEMA "Shared ""ns""" TO PUBLIC'
    )
    objects = found(fresh_db, "public_schema_create")
    assert set(objects) == {"public", '"Shared ""ns"""'}
    finding = objects["public"]
    assert finding.severity == Severity.HIGH and finding.evidence["grantees"] == ["PUBLIC"]
    assert_fix_round_trip(fresh_db, "public_schema_create", finding)
    assert_fix_round_trip(fresh_db, "public_schema_create", objects['"Shared ""ns"""'])


# -- app_role_superuser --


def test_app_role_superuser(db: TestDatabase, roles: LoginRoles) -> None:
    as_admin = found(db, "app_role_superuser")
    assert as_admin["role postgres"].severity == Severity.CRITICAL
    assert as_admin["role postgres"].evidence["audited_as"] == "postgres"

    app = roles.create("su_app")
    db.execute(f"GRANT USAGE ON SCHEMA public TO {_ident(app)}")
    as_app = db.snapshot(roles.dsn(app))
    assert "role postgres" not in found(db, "app_role_superuser", as_app)
    assert f"role {app}" not in found(db, "app_role_superuser", as_app)

    db.execute(
        f"ALTER ROLE {_ident(app)} BYPASSRLS;"
        "CREATE TABLE IF NOT EXISTS rls_in_use (id int);"
        "ALTER TABLE rls_in_use ENABLE ROW LEVEL SECURITY"
    )
    try:
        finding = found(db, "app_role_superuser", db.snapshot(roles.dsn(app)))[f"role {app}"]
        assert finding.severity == Severity.HIGH and finding.evidence["bypassrls"] is True
    finally:
        db.execute(f"ALTER ROLE {_ident(app)} NOBYPASSRLS")


def test_other_login_superuser_and_configured_app_role(db: TestDatabase, roles: LoginRoles) -> None:
    dba = roles.create("dba", "SUPERUSER")
    app = roles.create("cfg_app")
    config = Config(options={"app_role_superuser": {"app_role": app}})
    try:
        objects = {x.object: x for x in db.findings("app_role_superuser", config=config)}
        assert objects == {f"role {dba}": objects[f"role {dba}"]}
        assert objects[f"role {dba}"].severity == Severity.MEDIUM
    finally:
        db.execute(f"ALTER ROLE {_ident(dba)} NOSUPERUSER")


# -- sensitive_columns_exposed --


def test_sensitive_columns_fix_and_rollback(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        """
        CREATE TABLE members (id int, email text, "password_hash" text, "apiKey" text,
                              tokenizer_version int, token_expires_at timestamptz);
        GRANT SELECT, INSERT ON members TO anon;
        """
    )
    finding = found(db, "sensitive_columns_exposed")['public.members (password_hash, "apiKey")']
    assert finding.severity == Severity.CRITICAL
    assert finding.evidence["readers"] == ["anon"]
    assert finding.evidence["grants"] == ["anon: SELECT"]
    assert finding.fix is not None and finding.fix.needs_review
    assert_fix_round_trip(db, "sensitive_columns_exposed", finding)

    db.execute(finding.fix.sql)
    try:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute("SET ROLE anon")
            conn.execute("SELECT id, email, tokenizer_version FROM members")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT password_hash FROM members")
    finally:
        db.execute(finding.fix.rollback_sql or "")
    assert db.query("SELECT has_table_privilege('anon', 'members', 'SELECT')") == [(True,)]


def test_sensitive_columns_rls_and_column_grants(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        """
        CREATE TABLE profiles (id uuid, name text, session_token text);
        ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
        GRANT SELECT ON profiles TO anon, authenticated;
        CREATE POLICY own ON profiles FOR SELECT TO authenticated USING (id = auth.uid());
        CREATE TABLE api_clients (id int, client_secret text, label text);
        GRANT SELECT (id, client_secret) ON api_clients TO authenticated;
        """
    )
    objects = found(db, "sensitive_columns_exposed")
    profiles = objects["public.profiles (session_token)"]
    # anon has the grant but no policy: RLS shows it nothing. authenticated sees own rows.
    assert profiles.severity == Severity.HIGH
    assert profiles.evidence["rows"] == {"authenticated": "restricted"}
    clients = objects["public.api_clients (client_secret)"]
    assert clients.severity == Severity.CRITICAL
    assert clients.evidence["grants"] == ["authenticated: SELECT (client_secret)"]
    assert_fix_round_trip(db, "sensitive_columns_exposed", clients)


def test_sensitive_columns_silent_for_the_writing_app_role(
    db: TestDatabase, roles: LoginRoles
) -> None:
    writer = roles.create("writer")
    db.execute(
        f"CREATE TABLE logins (id int, password text);"
        f"GRANT SELECT, INSERT, UPDATE ON logins TO {_ident(writer)}"
    )
    assert "public.logins (password)" not in found(db, "sensitive_columns_exposed")
    analyst = roles.create("analyst")
    db.execute(f"GRANT SELECT ON logins TO {_ident(analyst)}")
    finding = found(db, "sensitive_columns_exposed")["public.logins (password)"]
    assert finding.severity == Severity.MEDIUM and finding.evidence["readers"] == [analyst]
