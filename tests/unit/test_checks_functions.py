"""Function search_path checks from hand-built snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.functions import split_search_path
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f
from tests.unit.test_acl import PG15_PUBLIC_ACL, SUPERUSER, function, login, schema, supabase_roles

DEFINER = "security_definer_function_search_path"
MUTABLE = "function_search_path_mutable"


def findings(check_id: str, config: Config | None = None, **sections: Any) -> list[Finding]:
    sections.setdefault("schemas", [schema()])
    sections.setdefault("roles", [SUPERUSER, login("app")])
    sections.setdefault("tables", [f.table("orders", owner="app")])
    return run_checks(f.snapshot(**sections), config, only=[check_id], strict=True).findings


# -- security_definer_function_search_path --


def test_definer_owned_by_superuser_callable_by_app_is_high() -> None:
    fn = function("grant_admin", owner="postgres", security_definer=True,
                  identity_args='uid uuid, "weird arg" text')  # fmt: skip
    [finding] = findings(DEFINER, functions=[fn])
    assert finding.severity == Severity.HIGH
    assert finding.object == 'public.grant_admin(uid uuid, "weird arg" text)'
    assert finding.evidence["executable_by"] == ["PUBLIC", "app"]
    assert finding.evidence["public_execute"] is True
    assert finding.fix is not None and finding.fix.needs_review
    assert finding.fix.sql == (
        'ALTER FUNCTION "public"."grant_admin"(uid uuid, "weird arg" text) SET search_path = \'\''
    )
    assert finding.fix.rollback_sql == (
        'ALTER FUNCTION "public"."grant_admin"(uid uuid, "weird arg" text) RESET search_path'
    )


def test_definer_only_public_in_name_is_medium_and_revoked_is_low() -> None:
    exposed = function("own_fn", owner="app", security_definer=True)
    revoked = function("private_fn", owner="app", security_definer=True, acl=["app=X/app"])
    found = findings(DEFINER, functions=[exposed, revoked])
    assert [(x.object, x.severity) for x in found] == [
        ("public.own_fn()", Severity.MEDIUM),
        ("public.private_fn()", Severity.LOW),
    ]


def test_definer_procedure_uses_alter_procedure_and_option_path() -> None:
    proc = function("archive", kind="p", owner="postgres", security_definer=True)
    config = Config(options={DEFINER: {"search_path": "app_code, pg_temp"}})
    [finding] = findings(DEFINER, config, functions=[proc])
    assert finding.fix is not None
    assert finding.fix.sql == (
        'ALTER PROCEDURE "public"."archive"() SET search_path = "app_code", "pg_temp"'
    )


@pytest.mark.parametrize(
    "fn",
    [
        function("fixed", owner="postgres", security_definer=True, config=["search_path=\"\""]),
        function("fixed2", owner="postgres", security_definer=True,
                 config=["work_mem=64MB", "search_path=app_code, pg_temp"]),
        function("invoker", owner="postgres"),
        function("ext", owner="postgres", security_definer=True, extension="pgcrypto"),
        function("agg", owner="postgres", security_definer=True, kind="a"),
    ],
    ids=["empty-path", "fixed-path", "invoker", "extension", "aggregate"],
)  # fmt: skip
def test_definer_silent_cases(fn: s.Function) -> None:
    assert findings(DEFINER, functions=[fn]) == []


def test_definer_path_through_a_schema_anyone_can_write() -> None:
    # PostgreSQL 14's public schema: PUBLIC may CREATE, so search_path=public protects nothing.
    pg14_public = schema(owner="postgres", acl=["postgres=UC/postgres", "=UC/postgres"])
    fn = function("f", owner="postgres", security_definer=True, config=["search_path=public"])
    [finding] = findings(DEFINER, schemas=[pg14_public], functions=[fn])
    assert finding.evidence["writable_schemas"] == ["public"]
    assert finding.fix is not None
    assert finding.fix.rollback_sql == 'ALTER FUNCTION "public"."f"() SET search_path = "public"'
    assert findings(DEFINER, functions=[fn]) == []  # PostgreSQL 15: public is not writable


def test_definer_in_platform_schema_is_skipped() -> None:
    roles = [*supabase_roles(), f.role("supabase_admin", login=True, superuser=True)]
    fn = function("uid", schema="auth", owner="supabase_admin", security_definer=True)
    assert findings(DEFINER, roles=roles, functions=[fn]) == []


# -- function_search_path_mutable --


def test_mutable_is_silent_for_a_single_role_app() -> None:
    trigger = function("set_updated_at", owner="app", result_type="trigger")
    assert findings(MUTABLE, functions=[trigger]) == []


def test_mutable_fires_when_other_roles_can_execute() -> None:
    helper = function("tenant_id", owner="postgres", volatility="s")
    [finding] = findings(MUTABLE, functions=[helper])
    assert finding.severity == Severity.LOW and finding.object == "public.tenant_id()"
    assert finding.evidence["executable_by"] == ["PUBLIC", "app"]
    assert finding.fix is not None
    assert finding.fix.sql == 'ALTER FUNCTION "public"."tenant_id"() SET search_path = \'\''


def test_mutable_fires_for_supabase_api_roles() -> None:
    schemas = [schema(acl=[*PG15_PUBLIC_ACL, "anon=U/pg_database_owner"])]
    helper = function("search", owner="postgres", acl=["postgres=X/postgres", "anon=X/postgres"])
    [finding] = findings(MUTABLE, roles=supabase_roles(), schemas=schemas, functions=[helper])
    assert finding.evidence["executable_by"] == ["anon"]


@pytest.mark.parametrize(
    "fn",
    [
        function("c_fn", owner="postgres", language="c"),
        function("internal_fn", owner="postgres", language="internal"),
        function("definer", owner="postgres", security_definer=True),
        function("fixed", owner="postgres", config=["search_path=pg_catalog"]),
        function("ext", owner="postgres", extension="citext"),
        function("revoked", owner="postgres", acl=["postgres=X/postgres"]),
    ],
    ids=["c", "internal", "definer", "fixed", "extension", "revoked"],
)
def test_mutable_silent_cases(fn: s.Function) -> None:
    assert findings(MUTABLE, functions=[fn]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"$user", public', ["$user", "public"]),
        ('""', []),
        ("", []),
        ('app, "we""ird, name", pg_temp', ["app", 'we"ird, name', "pg_temp"]),
    ],
)
def test_split_search_path(value: str, expected: list[str]) -> None:
    assert split_search_path(value) == expected


# -- trigger functions: judged by who can fire them, not by EXECUTE --


def _trigger(table: str = "orders") -> s.TableTrigger:
    return s.TableTrigger("public", table, "audit_trg", "public", "audit", "CREATE TRIGGER ...")


def test_trigger_function_execute_grant_is_no_exposure() -> None:
    fn = function("audit", owner="postgres", result_type="trigger")
    definer = function("audit", owner="postgres", result_type="trigger", security_definer=True)
    # PUBLIC's default EXECUTE and the present app role, but no table fires it
    assert findings(MUTABLE, functions=[fn]) == []
    [finding] = findings(DEFINER, functions=[definer])
    assert finding.severity == Severity.LOW and finding.evidence["executable_by"] == []
    # fired by writes to a table only its owner can write: still nobody else
    assert findings(MUTABLE, functions=[fn], triggers=[_trigger()]) == []


def test_trigger_function_fired_by_another_roles_writes_is_reported() -> None:
    acl = ["postgres=arwdDxt/postgres", "app=a/postgres"]
    orders = f.table("orders", owner="postgres", acl=acl)
    definer = function("audit", owner="postgres", result_type="trigger", security_definer=True)
    [finding] = findings(DEFINER, functions=[definer], tables=[orders], triggers=[_trigger()])
    assert finding.severity == Severity.HIGH and finding.evidence["executable_by"] == ["app"]
    assert "can fire it by writing to the tables it triggers on" in finding.detail
