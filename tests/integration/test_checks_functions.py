"""Function search_path checks on a real database, with hostile names and argument lists."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql

from prodready.model import Severity
from tests.conftest import TestDatabase
from tests.integration.test_checks_rls import (
    LoginRoles,
    assert_fix_round_trip,
    found,
    module_roles,
    prepare_supabase,
    run_as,
)

DEFINER = "security_definer_function_search_path"
MUTABLE = "function_search_path_mutable"


@pytest.fixture(scope="module")
def app(db: TestDatabase) -> Iterator[tuple[LoginRoles, str]]:
    """An application login role that owns a table here, so it is present in the database."""
    with module_roles(db) as roles:
        name = roles.create("fn_app")
        db.execute(
            sql.SQL("CREATE TABLE app_data (id int); ALTER TABLE app_data OWNER TO {}")
            .format(sql.Identifier(name))
            .as_string(None)
        )
        yield roles, name


def test_definer_owned_by_superuser_fix_and_rollback(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    db.execute(
        """
        CREATE FUNCTION "we""ird fn é"("select" integer, "b c" text DEFAULT 'x, y',
                                       VARIADIC rest text[] DEFAULT '{}')
          RETURNS integer LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
        """
    )
    signature = 'public."we""ird fn é"("select" integer, "b c" text, VARIADIC rest text[])'
    finding = found(db, DEFINER)[signature]
    assert finding.severity == Severity.HIGH
    assert finding.evidence["owner"] == "postgres"
    assert finding.evidence["executable_by"] == ["PUBLIC", app[1]]
    assert finding.fix is not None and finding.fix.needs_review
    assert_fix_round_trip(db, DEFINER, finding)
    # The fixed function still runs (its body is schema-independent).
    db.execute(finding.fix.sql)
    assert db.query('SELECT public."we""ird fn é"(1)') == [(1,)]
    assert db.query(finding.verify or "") == [(['search_path=""'],)]
    db.execute(finding.fix.rollback_sql or "")


def test_definer_with_revoked_execute_is_low_and_fixed_path_is_silent(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    db.execute(
        """
        CREATE FUNCTION private_definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
        REVOKE EXECUTE ON FUNCTION private_definer() FROM PUBLIC;
        CREATE FUNCTION hardened() RETURNS int LANGUAGE sql SECURITY DEFINER
          SET search_path = '' AS 'SELECT 1';
        CREATE PROCEDURE hardened_proc() LANGUAGE sql SECURITY DEFINER
          SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
        """
    )
    objects = found(db, DEFINER)
    assert objects["public.private_definer()"].severity == Severity.LOW
    assert objects["public.private_definer()"].evidence["executable_by"] == []
    assert "public.hardened()" not in objects and "public.hardened_proc()" not in objects


def test_definer_procedure_on_a_path_anyone_can_write(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    db.execute(
        """
        CREATE SCHEMA open_space;
        GRANT USAGE, CREATE ON SCHEMA open_space TO PUBLIC;
        CREATE PROCEDURE "Archive Proc"(n int) LANGUAGE sql SECURITY DEFINER
          SET search_path = open_space, public AS 'SELECT 1';
        """
    )
    finding = found(db, DEFINER)['public."Archive Proc"(IN n integer)']
    assert finding.evidence["writable_schemas"] == ["open_space"]
    assert finding.fix is not None
    assert finding.fix.sql.startswith('ALTER PROCEDURE "public"."Archive Proc"(IN n integer)')
    assert_fix_round_trip(db, DEFINER, finding)
    assert db.query("SELECT proconfig FROM pg_proc WHERE proname = 'Archive Proc'") == [
        (["search_path=open_space, public"],)
    ]


def test_mutable_search_path_fix_and_rollback(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    long_name = "f" * 63
    db.execute(
        sql.SQL(
            """
            CREATE FUNCTION {}("from" "char", VARIADIC "x y" integer[]) RETURNS int
              LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN 1; END $$;
            CREATE FUNCTION revoked_helper() RETURNS int LANGUAGE sql AS 'SELECT 1';
            REVOKE EXECUTE ON FUNCTION revoked_helper() FROM PUBLIC;
            CREATE FUNCTION fixed_helper() RETURNS int LANGUAGE sql SET search_path = ''
              AS 'SELECT 1';
            """
        )
        .format(sql.Identifier(long_name))
        .as_string(None)
    )
    objects = found(db, MUTABLE)
    finding = objects[f'public.{long_name}("from" "char", VARIADIC "x y" integer[])']
    assert finding.severity == Severity.LOW
    assert finding.evidence["executable_by"] == ["PUBLIC", app[1]]
    assert "public.revoked_helper()" not in objects and "public.fixed_helper()" not in objects
    assert_fix_round_trip(db, MUTABLE, finding)


def test_mutable_silent_for_functions_owned_by_the_only_app_role(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    roles, name = app
    db.execute(
        sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(name)).as_string(None)
    )
    run_as(
        roles.dsn(name),
        "CREATE FUNCTION app_trigger() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$;"
        "CREATE FUNCTION app_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    )
    objects = found(db, MUTABLE)
    assert "public.app_trigger()" not in objects and "public.app_fn()" not in objects
    # ... until a Supabase API role can reach it through PUBLIC's default EXECUTE.
    prepare_supabase(db)
    after = found(db, MUTABLE)
    assert after["public.app_fn()"].evidence["executable_by"] == [
        "PUBLIC", "anon", "authenticated", "authenticator"
    ]  # fmt: skip
    # a trigger function cannot be called, whatever EXECUTE says, and fires on no table
    assert "public.app_trigger()" not in after


def test_the_readme_audit_role_and_trigger_functions_are_no_exposure(
    db: TestDatabase, app: tuple[LoginRoles, str]
) -> None:
    roles, _ = app
    auditor = roles.create("auditor")
    db.execute(
        sql.SQL(
            "GRANT pg_monitor TO {a}; GRANT USAGE ON SCHEMA public TO {a};"
            "CREATE SEQUENCE audit_seq; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {a};"
        )
        .format(a=sql.Identifier(auditor))
        .as_string(None)
    )
    db.execute(
        """
        CREATE FUNCTION plain_helper() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE TABLE trg_owned (id int);
        CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
          'BEGIN RETURN NEW; END';
        CREATE TRIGGER trg_stamp BEFORE INSERT ON trg_owned FOR EACH ROW EXECUTE FUNCTION stamp();
        """
    )
    mutable = found(db, MUTABLE)
    # the app role is present, so the plain function is reported; the auditor never is
    assert auditor not in mutable["public.plain_helper()"].evidence["executable_by"]
    # nobody but the owner writes trg_owned: EXECUTE on stamp() exposes nothing
    assert "public.stamp()" not in mutable
    snap = db.snapshot()
    assert [(t.table, t.function_name) for t in snap.triggers] == [("trg_owned", "stamp")]
