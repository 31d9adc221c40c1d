"""Privilege checks (views, extensions, schemas, app role, secret columns) from snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f
from tests.unit.test_acl import (
    PG15_PUBLIC_ACL,
    SUPERUSER,
    extension,
    login,
    policy,
    schema,
    supabase_roles,
    view,
)

API_SCHEMA = schema(acl=[*PG15_PUBLIC_ACL, "anon=U/pg_database_owner", "authenticated=U/postgres"])


def findings(check_id: str, config: Config | None = None, **sections: Any) -> list[Finding]:
    sections.setdefault("schemas", [schema()])
    sections.setdefault("roles", [SUPERUSER, login("app")])
    return run_checks(f.snapshot(**sections), config, only=[check_id], strict=True).findings


# -- security_definer_view --


def _supabase_view(**kw: Any) -> dict[str, Any]:
    todos = f.table("todos", owner="postgres", rls_enabled=True, acl=["postgres=arwdDxt/postgres"])
    return dict(
        roles=supabase_roles(),
        schemas=[API_SCHEMA],
        tables=[todos],
        views=[view("todo_list", owner="postgres", acl=["postgres=arwdDxt/postgres",
                                                        "anon=r/postgres"], **kw)],
    )  # fmt: skip


def test_definer_view_over_rls_tables_exposed_to_anon() -> None:
    [finding] = findings("security_definer_view", **_supabase_view())
    assert finding.object == "public.todo_list" and finding.severity == Severity.HIGH
    assert finding.evidence["exposed_to"] == ["anon"]
    assert finding.evidence["rls_tables_sample"] == ["public.todos"]
    assert finding.fix is not None and finding.fix.needs_review
    assert finding.fix.sql == 'ALTER VIEW "public"."todo_list" SET (security_invoker = true)'
    assert finding.fix.rollback_sql == 'ALTER VIEW "public"."todo_list" RESET (security_invoker)'


def test_definer_view_before_postgresql_15_has_guidance_only() -> None:
    sections = _supabase_view() | {"server": f.server(version_num=140010)}
    [finding] = findings("security_definer_view", **sections)
    assert finding.severity == Severity.MEDIUM and finding.fix is None
    assert "security_invoker" in finding.detail


@pytest.mark.parametrize("options", [["security_invoker=true"], ["security_invoker=on"]])
def test_definer_view_silent_when_security_invoker(options: list[str]) -> None:
    assert findings("security_definer_view", **_supabase_view(options=options)) == []


def test_definer_view_silent_without_rls_or_exposure() -> None:
    # A two-role app without RLS: views as a column filter are intended to run as the owner.
    orders = f.table("orders", owner="owner", acl=["owner=arwdDxt/owner", "app_user=r/owner"])
    report = view("report", owner="owner", acl=["owner=arwdDxt/owner", "app_user=r/owner"])
    roles = [SUPERUSER, login("owner"), login("app_user")]
    assert findings("security_definer_view", roles=roles, tables=[orders], views=[report]) == []
    # RLS in use, but the view is not granted to anyone.
    private = _supabase_view()
    private["views"] = [view("todo_list", owner="postgres")]
    assert findings("security_definer_view", **private) == []


def test_definer_view_owner_subject_to_forced_rls_is_silent() -> None:
    todos = f.table("todos", owner="owner", rls_enabled=True, rls_forced=True)
    todo_view = view("v", owner="owner", acl=["owner=arwdDxt/owner", "app_user=r/owner"])
    roles = [SUPERUSER, login("owner"), login("app_user")]
    assert findings("security_definer_view", roles=roles, tables=[todos], views=[todo_view]) == []


# -- extension_in_public --


def test_extension_in_public_silent_for_a_private_database() -> None:
    exts = [
        extension("pg_trgm"),
        extension("pg_stat_statements"),
        extension("plpgsql", "pg_catalog"),
    ]
    assert findings("extension_in_public", extensions=exts) == []


def test_extension_in_public_exposed_to_api_roles() -> None:
    exts = [
        extension("pgcrypto"),
        extension("xml2", relocatable=False),
        extension("plpgsql", "public", relocatable=False),
        extension("citext", "extensions"),
    ]
    found = findings(
        "extension_in_public",
        roles=supabase_roles(),
        schemas=[API_SCHEMA],
        extensions=exts,
    )
    assert [x.object for x in found] == ["public (pgcrypto)", "public (xml2)"]
    pgcrypto, xml2 = found
    assert pgcrypto.severity == Severity.LOW
    assert pgcrypto.evidence["api_roles"] == ["anon", "authenticated"]
    assert pgcrypto.fix is not None and pgcrypto.fix.needs_review
    assert pgcrypto.fix.sql == (
        'CREATE SCHEMA IF NOT EXISTS "extensions";\n'
        'ALTER EXTENSION "pgcrypto" SET SCHEMA "extensions"'
    )
    assert pgcrypto.fix.rollback_sql == 'ALTER EXTENSION "pgcrypto" SET SCHEMA public'
    assert xml2.fix is None and "not relocatable" in xml2.detail


def test_extension_in_public_when_anyone_can_create_there() -> None:
    pg14_public = schema(owner="postgres", acl=["postgres=UC/postgres", "=UC/postgres"])
    [finding] = findings(
        "extension_in_public", schemas=[pg14_public], extensions=[extension("hstore")]
    )
    assert finding.evidence["can_create_in_public"] == ["PUBLIC"]


# -- public_schema_create --


def test_public_schema_create_pg14_default() -> None:
    pg14_public = schema(owner="postgres", acl=["postgres=UC/postgres", "=UC/postgres"])
    [finding] = findings("public_schema_create", schemas=[pg14_public])
    assert finding.object == "public" and finding.severity == Severity.HIGH
    assert finding.evidence["grantees"] == ["PUBLIC"]
    assert finding.fix is not None
    assert finding.fix.sql == 'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC'
    assert finding.fix.rollback_sql == 'GRANT CREATE ON SCHEMA "public" TO PUBLIC'


def test_public_schema_create_keeps_create_for_owners_relying_on_it() -> None:
    # PostgreSQL 14: the app created its tables through PUBLIC's CREATE on public.
    pg14_public = schema(owner="postgres", acl=["postgres=UC/postgres", "=UC/postgres"])
    tables = [f.table("orders", owner="app"), f.table("audit", owner="postgres")]
    [finding] = findings("public_schema_create", schemas=[pg14_public], tables=tables)
    assert finding.evidence["granted_to_owners"] == ["app"]
    assert finding.fix is not None
    assert finding.fix.sql == (
        'GRANT CREATE ON SCHEMA "public" TO "app";\nREVOKE CREATE ON SCHEMA "public" FROM PUBLIC'
    )
    assert finding.fix.rollback_sql == (
        'GRANT CREATE ON SCHEMA "public" TO PUBLIC;\nREVOKE CREATE ON SCHEMA "public" FROM "app"'
    )
    granted = schema(owner="postgres", acl=[*(pg14_public.acl or []), "app=C/postgres"])
    [finding] = findings("public_schema_create", schemas=[granted], tables=tables)
    assert finding.evidence["granted_to_owners"] == []


def test_public_schema_create_api_role_and_all_logins_group() -> None:
    roles = [SUPERUSER, f.role("anon"), f.role("everyone"), login("a", member_of=["everyone"]),
             login("b", member_of=["everyone"])]  # fmt: skip
    acl = ["postgres=UC/postgres", "anon=UC*/postgres", "everyone=UC/postgres"]
    shared = schema("shared", owner="postgres", acl=acl)
    [finding] = findings("public_schema_create", roles=roles, schemas=[shared])
    assert finding.evidence["grantees"] == ["anon", "everyone"]
    assert finding.fix is not None
    assert finding.fix.rollback_sql == (
        'GRANT CREATE ON SCHEMA "shared" TO "anon" WITH GRANT OPTION;\n'
        'GRANT CREATE ON SCHEMA "shared" TO "everyone"'
    )


def test_public_schema_create_silent_cases() -> None:
    owned = schema("app", owner="app", acl=["app=UC/app", "reporting=U/app"])
    one_login = schema("tools", owner="postgres", acl=["postgres=UC/postgres", "app=UC/postgres"])
    roles = [SUPERUSER, login("app"), login("reporting")]
    assert findings("public_schema_create", roles=roles, schemas=[schema(), owned, one_login]) == []


# -- app_role_superuser --


def _activity(user: str, **kw: Any) -> s.Activity:
    base: dict[str, Any] = dict(
        pid=1, user=user, application_name="web", backend_type="client backend", state="idle",
        xact_age_s=None, query_age_s=1.0, state_age_s=1.0, wait_event_type=None,
        wait_event=None, query=None, is_self=False, same_database=True,
    )  # fmt: skip
    return s.Activity(**{**base, **kw})


def test_app_role_superuser_audited_role_is_critical() -> None:
    server = f.server(current_user="postgres", session_user="postgres", is_superuser=True)
    [finding] = findings("app_role_superuser", server=server, tables=[f.table("orders")])
    assert finding.object == "role postgres" and finding.severity == Severity.CRITICAL
    assert finding.fix is None
    assert 'CREATE ROLE "app_rw" LOGIN' in finding.detail
    assert 'ON ALL TABLES IN SCHEMA "public"' in finding.detail
    assert "app_role" in finding.detail


def test_app_role_script_leaves_extension_schemas_alone() -> None:
    server = f.server(current_user="postgres", session_user="postgres", is_superuser=True)
    tables = [f.table("orders"), f.table("template_public_orders", schema="partman"),
              f.table("job", schema="cron")]  # fmt: skip
    extensions = [s.Extension("pg_partman", "partman", "4.7.4", False)]
    schemas = [
        s.Schema("public", "postgres", None, None),
        s.Schema("cron", "postgres", None, "pg_cron"),
    ]
    [finding] = findings(
        "app_role_superuser", server=server, tables=tables, extensions=extensions, schemas=schemas
    )
    assert 'ON ALL TABLES IN SCHEMA "public" TO' in finding.detail
    assert '"partman"' not in finding.detail and '"cron"' not in finding.detail


def test_app_role_superuser_bypassrls_app_matters_only_with_rls() -> None:
    roles = [SUPERUSER, login("app", bypassrls=True)]
    assert findings("app_role_superuser", roles=roles, tables=[f.table("t")]) == []
    rls_table = f.table("t", rls_enabled=True)
    [finding] = findings("app_role_superuser", roles=roles, tables=[rls_table])
    assert finding.severity == Severity.HIGH and finding.evidence["bypassrls"] is True
    assert "BYPASSRLS" in finding.detail


def test_app_role_superuser_dba_audit_while_app_uses_another_role() -> None:
    server = f.server(current_user="postgres", session_user="postgres", is_superuser=True)
    activity = [_activity("app"), _activity("postgres", is_self=True)]
    [finding] = findings("app_role_superuser", server=server, activity=activity)
    assert finding.severity == Severity.LOW
    assert finding.evidence["other_session_roles"] == ["app"]


def test_app_role_superuser_configured_app_role() -> None:
    server = f.server(current_user="postgres", session_user="postgres", is_superuser=True)
    ok = Config(options={"app_role_superuser": {"app_role": "app"}})
    assert findings("app_role_superuser", ok, server=server) == []
    roles = [SUPERUSER, login("app", superuser=True)]
    [finding] = findings("app_role_superuser", ok, server=server, roles=roles)
    assert finding.object == "role app" and finding.severity == Severity.CRITICAL


def test_app_role_superuser_other_login_superusers() -> None:
    roles = [
        SUPERUSER,
        login("app"),
        login("dba_bob", superuser=True),
        f.role("nologin_admin", superuser=True),
        login("supabase_admin", superuser=True),
    ]
    [finding] = findings("app_role_superuser", roles=roles)
    assert finding.object == "role dba_bob" and finding.severity == Severity.MEDIUM


def test_app_role_superuser_silent_for_ordinary_app_role() -> None:
    assert findings("app_role_superuser") == []


# -- sensitive_columns_exposed --


def _users(**kw: Any) -> tuple[s.Table, list[s.Column]]:
    kw.setdefault("owner", "postgres")
    table = f.table("users", **kw)
    names = ["id", "email", "password_hash", "tokenizer_version", "api_key", "token_expires_at",
             "has_password", "resetPasswordToken"]  # fmt: skip
    columns = [f.column("users", n, i + 1, type="text") for i, n in enumerate(names)]
    columns.append(f.column("users", "otp_enabled", 9, type="boolean"))
    return table, columns


def test_sensitive_columns_anon_reads_every_row() -> None:
    users, columns = _users(acl=["postgres=arwdDxt/postgres", "anon=r/postgres"])
    [finding] = findings(
        "sensitive_columns_exposed",
        roles=supabase_roles(), schemas=[API_SCHEMA], tables=[users], columns=columns,
    )  # fmt: skip
    assert finding.object == 'public.users (password_hash, api_key, "resetPasswordToken")'
    assert finding.severity == Severity.CRITICAL
    # authenticator only borrows anon's grant: anon stands for that audience.
    assert finding.evidence["readers"] == ["anon"]
    assert finding.evidence["rows"] == {"anon": "all"}
    fix = finding.fix
    assert fix is not None and fix.needs_review
    others = '"id", "email", "tokenizer_version", "token_expires_at", "has_password", "otp_enabled"'
    assert fix.sql == (
        'REVOKE SELECT ON "public"."users" FROM "anon";\n'
        f'GRANT SELECT ({others}) ON "public"."users" TO "anon"'
    )
    assert fix.rollback_sql == (
        f'REVOKE SELECT ({others}) ON "public"."users" FROM "anon";\n'
        'GRANT SELECT ON "public"."users" TO "anon"'
    )


def test_sensitive_columns_rls_limits_rows() -> None:
    users, columns = _users(
        acl=["postgres=arwdDxt/postgres", "authenticated=r*/postgres"], rls_enabled=True
    )
    sections: dict[str, Any] = dict(
        roles=supabase_roles(), schemas=[API_SCHEMA], tables=[users], columns=columns
    )
    own = policy("own", "users", command="SELECT", roles=["authenticated"], using="id = auth.uid()")
    [finding] = findings("sensitive_columns_exposed", policies=[own], **sections)
    assert finding.severity == Severity.HIGH
    assert finding.evidence["rows"] == {"authenticated": "restricted"}
    assert finding.fix is not None and "WITH GRANT OPTION" in finding.fix.sql
    # No policy for the role: RLS hides every row, nothing is exposed.
    assert findings("sensitive_columns_exposed", **sections) == []
    # A USING (true) policy is no protection.
    everyone = policy("all", "users", command="ALL", roles=["public"], using="true")
    [open_rows] = findings("sensitive_columns_exposed", policies=[everyone], **sections)
    assert open_rows.severity == Severity.CRITICAL


def test_sensitive_columns_column_grant() -> None:
    users, columns = _users(acl=["postgres=arwdDxt/postgres"])
    columns[2] = f.column("users", "password_hash", 3, type="text", acl=["=r/postgres"])
    [finding] = findings("sensitive_columns_exposed", tables=[users], columns=columns)
    assert finding.object == "public.users (password_hash)"
    assert finding.evidence["grants"] == ["PUBLIC: SELECT (password_hash)"]
    assert finding.fix is not None
    assert finding.fix.sql == 'REVOKE SELECT ("password_hash") ON "public"."users" FROM PUBLIC'
    assert (
        finding.fix.rollback_sql == 'GRANT SELECT ("password_hash") ON "public"."users" TO PUBLIC'
    )


def test_sensitive_columns_app_role_that_writes_is_not_reported() -> None:
    users, columns = _users(acl=["owner=arwdDxt/owner", "app_user=arwd/owner", "analyst=r/owner"],
                            owner="owner")  # fmt: skip
    roles = [SUPERUSER, login("owner"), login("app_user"), login("analyst")]
    [finding] = findings("sensitive_columns_exposed", roles=roles, tables=[users], columns=columns)
    assert finding.severity == Severity.MEDIUM
    assert finding.evidence["readers"] == ["analyst"]
    no_analyst = ["owner=arwdDxt/owner", "app_user=arwd/owner"]
    users2, _ = _users(acl=no_analyst, owner="owner")
    assert (
        findings("sensitive_columns_exposed", roles=roles, tables=[users2], columns=columns) == []
    )


def test_sensitive_columns_silent_for_single_role_app() -> None:
    users, columns = _users(owner="app")
    assert findings("sensitive_columns_exposed", tables=[users], columns=columns) == []


def test_sensitive_columns_views_are_checked() -> None:
    profile = view(
        "profiles", owner="postgres", acl=["postgres=arwdDxt/postgres", "anon=r/postgres"]
    )
    columns = [f.column("profiles", "name", 1, type="text"),
               f.column("profiles", "session_token", 2, type="text")]  # fmt: skip
    [finding] = findings(
        "sensitive_columns_exposed",
        roles=supabase_roles(), schemas=[API_SCHEMA], views=[profile], columns=columns,
    )  # fmt: skip
    assert finding.object == "public.profiles (session_token)"


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("password", True), ("encrypted_password", True), ("passwordDigest", True),
        ("api_key", True), ("apiKey", True), ("stripe_secret", True), ("ssn", True),
        ("credit_card_number", True), ("iban", True), ("totp_secret", True), ("salt", True),
        ("refresh_token", True), ("token", True),
        ("tokenizer_version", False), ("token_count", False), ("password_changed_at", False),
        ("api_key_id", False), ("is_secret", False), ("keyboard", False), ("ssnap", False),
        ("passing_grade", False), ("salty", False),
    ],
)  # fmt: skip
def test_sensitive_name_matching(name: str, sensitive: bool) -> None:
    table = f.table("t", owner="postgres", acl=["postgres=arwdDxt/postgres", "=r/postgres"])
    column = f.column("t", name, type="text")
    found = findings("sensitive_columns_exposed", tables=[table], columns=[column])
    assert bool(found) is sensitive


def test_sensitive_patterns_are_configurable() -> None:
    table = f.table("t", owner="postgres", acl=["postgres=arwdDxt/postgres", "=r/postgres"])
    column = f.column("t", "national_id", type="text")
    config = Config(options={"sensitive_columns_exposed": {"patterns": ["national_id"]}})
    [finding] = findings("sensitive_columns_exposed", config, tables=[table], columns=[column])
    assert finding.object == "public.t (national_id)"
