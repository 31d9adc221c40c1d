"""Row-level security checks from hand-built snapshots: firing and silent cases."""

from __future__ import annotations

from typing import Any

import pytest
from pglast import parse_sql

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.rls import is_constant_true
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f
from tests.unit.test_acl import (
    PG15_PUBLIC_ACL,
    SUPERUSER,
    function,
    login,
    policy,
    schema,
    supabase_roles,
)

API_GRANTS = ["postgres=arwdDxt/postgres", "anon=arwd/postgres", "authenticated=arwd/postgres"]


def findings(check_id: str, config: Config | None = None, **sections: Any) -> list[Finding]:
    sections.setdefault("schemas", [schema()])
    return run_checks(f.snapshot(**sections), config, only=[check_id], strict=True).findings


def supabase(**sections: Any) -> dict[str, Any]:
    sections.setdefault("roles", supabase_roles())
    sections.setdefault(
        "schemas",
        [schema(acl=[*PG15_PUBLIC_ACL, "anon=U/pg_database_owner", "authenticated=U/postgres"])],
    )
    return sections


def two_role_app(**sections: Any) -> dict[str, Any]:
    """Migrations run as `owner`; the app connects as `app_user`, granted DML."""
    sections.setdefault("roles", [SUPERUSER, login("owner"), login("app_user")])
    sections.setdefault("server", f.server(current_user="app_user", session_user="app_user"))
    return sections


# -- rls_disabled --


def test_rls_disabled_is_silent_for_a_single_role_app() -> None:
    tables = [f.table("orders"), f.table("users", acl=["app=arwdDxt/app"])]
    assert findings("rls_disabled", roles=[SUPERUSER, login("app")], tables=tables) == []


def test_rls_disabled_is_silent_for_an_app_role_when_rls_is_not_used() -> None:
    # Least-privilege DML grants to the app's role are the norm, not an RLS gap.
    orders = f.table("orders", owner="owner", acl=["owner=arwdDxt/owner", "app_user=arwd/owner"])
    assert findings("rls_disabled", **two_role_app(tables=[orders])) == []


def test_rls_disabled_flags_app_role_tables_scoped_like_rls_tables() -> None:
    # Policies elsewhere isolate rows by tenant_id: a table with tenant_id and no RLS is a gap,
    # a lookup table without it is global by design.
    grants = ["owner=arwdDxt/owner", "app_user=arwd/owner"]
    orders = f.table("orders", owner="owner", acl=grants)
    countries = f.table("countries", owner="owner", acl=grants)
    projects = f.table("projects", owner="owner", rls_enabled=True, acl=grants)
    columns = [
        f.column("orders", "id", 1),
        f.column("orders", "tenant_id", 2),
        f.column("countries", "code", 1),
        f.column("projects", "tenant_id", 1),
    ]
    scoped = policy("tenant", "projects", using="(tenant_id = current_setting('app.tenant'))")
    sections = two_role_app(tables=[orders, countries, projects], columns=columns)
    found = findings("rls_disabled", policies=[scoped], **sections)
    assert [(x.object, x.severity) for x in found] == [("public.orders", Severity.HIGH)]
    assert found[0].evidence["exposed_to"] == ["app_user"]
    assert found[0].evidence["privileges"] == ["DELETE", "INSERT", "SELECT", "UPDATE"]
    assert found[0].evidence["scoping_columns"] == ["tenant_id"]
    assert "isolate rows by tenant_id" in found[0].detail
    # Without RLS anywhere, the same grants are ordinary least privilege.
    assert findings("rls_disabled", **sections) == []


def test_rls_disabled_option_reports_every_login_role_table() -> None:
    orders = f.table("orders", owner="owner", acl=["owner=arwdDxt/owner", "app_user=r/owner"])
    config = Config(options={"rls_disabled": {"scoped_login_roles_only": False}})
    found = findings("rls_disabled", config, **two_role_app(tables=[orders]))
    assert [x.severity for x in found] == [Severity.HIGH]


def test_rls_disabled_partition_of_an_rls_parent_needs_no_review() -> None:
    parent = f.table("events", owner="postgres", kind="p", rls_enabled=True, acl=API_GRANTS)
    part = f.table("events_2026", owner="postgres", is_partition=True, acl=API_GRANTS,
                   parent_schema="public", parent_name="events")  # fmt: skip
    sections = supabase(tables=[parent, part], policies=[policy("own", "events")])
    [finding] = findings("rls_disabled", **sections)
    assert finding.object == "public.events_2026" and finding.severity == Severity.CRITICAL
    assert finding.evidence["rls_parent"] == "public.events"
    assert "queries through public.events are unaffected" in finding.detail
    assert finding.fix is not None and not finding.fix.needs_review


def test_rls_disabled_is_critical_for_supabase_api_roles() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS)
    [finding] = findings("rls_disabled", **supabase(tables=[todos]))
    assert finding.severity == Severity.CRITICAL and finding.object == "public.todos"
    # authenticator is left out: it can SET ROLE service_role (BYPASSRLS), so RLS is moot.
    assert finding.evidence["exposed_to"] == ["anon", "authenticated"]
    assert "policies first" in finding.detail
    assert finding.fix is not None and finding.fix.needs_review
    assert finding.fix.sql == 'ALTER TABLE "public"."todos" ENABLE ROW LEVEL SECURITY'
    assert finding.fix.rollback_sql == 'ALTER TABLE "public"."todos" DISABLE ROW LEVEL SECURITY'


def test_rls_disabled_public_grants() -> None:
    readable = f.table("countries", acl=["app=arwdDxt/app", "=r/app"])
    writable = f.table("guestbook", acl=["app=arwdDxt/app", "=ra/app"])
    found = findings("rls_disabled", roles=[login("app")], tables=[readable, writable])
    assert [(x.object, x.severity) for x in found] == [
        ("public.guestbook", Severity.CRITICAL),
        ("public.countries", Severity.HIGH),
    ]
    assert found[1].evidence["exposed_to"] == ["PUBLIC"]


@pytest.mark.parametrize(
    "table",
    [
        f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True),
        f.table("todos", owner="postgres", acl=API_GRANTS, kind="m"),
        f.table("todos", owner="postgres", acl=API_GRANTS, kind="f"),
        f.table("todos", owner="postgres", acl=API_GRANTS, extension="postgis"),
        f.table("todos", owner="postgres", acl=["postgres=arwdDxt/postgres"]),
        # service_role bypasses RLS: enabling it would change nothing for that role.
        f.table("todos", owner="postgres", acl=["postgres=arwdDxt/postgres",
                                                "service_role=arwd/postgres"]),
    ],
    ids=["rls-on", "matview", "foreign", "extension", "owner-only", "bypassrls-only"],
)  # fmt: skip
def test_rls_disabled_silent_cases(table: s.Table) -> None:
    assert findings("rls_disabled", **supabase(tables=[table])) == []


def test_rls_disabled_needs_schema_usage() -> None:
    hidden = schema("internal", owner="postgres", acl=["postgres=UC/postgres"])
    todos = f.table("todos", schema="internal", owner="postgres", acl=API_GRANTS)
    assert findings("rls_disabled", **supabase(tables=[todos], schemas=[hidden])) == []


def test_rls_disabled_skips_platform_schemas() -> None:
    roles = [*supabase_roles(), f.role("supabase_admin", login=True, superuser=True)]
    auth = schema("auth", owner="supabase_admin", acl=["supabase_admin=UC/supabase_admin",
                                                       "anon=U/supabase_admin"])  # fmt: skip
    acl = ["supabase_admin=arwdDxt/supabase_admin", "anon=r/supabase_admin"]
    users = f.table("users", schema="auth", owner="supabase_admin", acl=acl)
    assert findings("rls_disabled", roles=roles, schemas=[auth], tables=[users]) == []


def test_rls_disabled_column_grants_expose_rows() -> None:
    todos = f.table("todos", owner="postgres")
    title = f.column("todos", "title", acl=["postgres=r/postgres", "anon=r/postgres"])
    [finding] = findings("rls_disabled", **supabase(tables=[todos], columns=[title]))
    assert finding.evidence["grants"] == ["anon: SELECT (title)"]


def test_rls_disabled_leaves_tables_with_policies_to_policy_without_rls() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS)
    sections = supabase(tables=[todos], policies=[policy("own", "todos")])
    assert findings("rls_disabled", **sections) == []
    assert [x.object for x in findings("policy_without_rls", **sections)] == ["public.todos"]


# -- policy_without_rls --


def test_policy_without_rls_exposed_to_api_roles() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS)
    policies = [policy("read own", "todos", command="SELECT", roles=["authenticated"])]
    [finding] = findings("policy_without_rls", **supabase(tables=[todos], policies=policies))
    assert finding.severity == Severity.CRITICAL
    assert finding.evidence["policies"] == ["read own"]
    assert finding.evidence["uncovered_commands"] == ["DELETE", "INSERT", "UPDATE"]
    assert (
        '"read own"' in finding.detail
        and "No policy covers DELETE, INSERT, UPDATE" in finding.detail
    )
    assert finding.fix is not None and finding.fix.needs_review


def test_policy_without_rls_all_commands_covered_needs_no_review() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS)
    [finding] = findings(
        "policy_without_rls", **supabase(tables=[todos], policies=[policy("own", "todos")])
    )
    assert finding.fix is not None and not finding.fix.needs_review
    assert finding.evidence["uncovered_commands"] == []


def test_policy_without_rls_owner_only_is_medium() -> None:
    found = findings(
        "policy_without_rls", roles=[login("app")], tables=[f.table("t")], policies=[policy("p")]
    )
    assert [(x.object, x.severity) for x in found] == [("public.t", Severity.MEDIUM)]
    assert "only the owner" in found[0].detail


def test_policy_without_rls_silent_when_rls_enabled_or_no_policies() -> None:
    sections: dict[str, Any] = dict(roles=[login("app")], policies=[policy("p", "a")])
    tables = [f.table("a", rls_enabled=True), f.table("b")]
    assert findings("policy_without_rls", tables=tables, **sections) == []


# -- rls_enabled_no_policy --


def test_rls_enabled_no_policy_low_when_roles_are_locked_out() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    [finding] = findings("rls_enabled_no_policy", **supabase(tables=[todos]))
    assert finding.severity == Severity.LOW and "see no rows" in finding.detail


def test_rls_enabled_no_policy_info_when_nobody_else_has_privileges() -> None:
    jobs = f.table("jobs", rls_enabled=True)
    [finding] = findings("rls_enabled_no_policy", roles=[login("app")], tables=[jobs])
    assert finding.severity == Severity.INFO


def test_rls_enabled_no_policy_silent_with_a_policy_or_rls_off() -> None:
    tables = [f.table("a", rls_enabled=True), f.table("b")]
    assert findings("rls_enabled_no_policy", tables=tables, policies=[policy("p", "a")]) == []


# -- rls_initplan --


def _initplan(expr: str | None, with_check: str | None = None, **kw: Any) -> list[Finding]:
    p = policy("own rows", "todos", using=expr, with_check=with_check, **kw)
    todos = f.table("todos", owner="postgres", rls_enabled=True)
    extra = kw.pop("functions", [])
    return findings("rls_initplan", tables=[todos], policies=[p], functions=extra)


def test_rls_initplan_wraps_auth_uid() -> None:
    [finding] = _initplan("user_id = auth.uid()")
    assert finding.object == 'public.todos (policy "own rows")'
    assert finding.evidence["calls"] == ["auth.uid()"]
    assert finding.fix is not None
    assert finding.fix.sql == (
        'ALTER POLICY "own rows" ON "public"."todos" USING (user_id = (SELECT auth.uid()))'
    )
    assert finding.fix.rollback_sql == (
        'ALTER POLICY "own rows" ON "public"."todos" USING (user_id = auth.uid())'
    )


def test_rls_initplan_rewrites_both_clauses_and_keeps_the_rest_verbatim() -> None:
    using = (
        "(tenant_id = (current_setting('app.tenant'::text, true))::uuid)"
        " AND (note <> 'auth.uid()'::text)"
    )
    check = "((auth.jwt() ->> 'role'::text) = 'admin'::text)"
    [finding] = _initplan(using, check)
    assert finding.evidence["calls"] == ["current_setting('app.tenant'::text, true)", "auth.jwt()"]
    assert finding.fix is not None
    assert finding.fix.sql == (
        'ALTER POLICY "own rows" ON "public"."todos" USING ((tenant_id = ((SELECT '
        "current_setting('app.tenant'::text, true)))::uuid) AND (note <> 'auth.uid()'::text)) "
        "WITH CHECK ((((SELECT auth.jwt()) ->> 'role'::text) = 'admin'::text))"
    )
    for text in (finding.fix.sql, finding.fix.rollback_sql or ""):
        parse_sql(text)


@pytest.mark.parametrize(
    "expr",
    [
        "user_id = ( SELECT auth.uid() AS uid)",
        "owner = CURRENT_USER",
        "is_member(org_id, user_id)",
        "user_id IN ( SELECT m.user_id FROM members m WHERE m.org = auth.uid())",
        "true",
        None,
    ],
    ids=["wrapped", "sql-value-function", "row-arguments", "inside-subquery", "constant", "none"],
)
def test_rls_initplan_silent_cases(expr: str | None) -> None:
    assert _initplan(expr) == []


def test_rls_initplan_unicode_and_quoted_names_keep_exact_spans() -> None:
    [finding] = _initplan('("ünïcode col" = auth.uid()) OR (\'é\' = "Auth".uid())')
    assert finding.fix is not None
    assert finding.fix.sql.endswith(
        'USING (("ünïcode col" = (SELECT auth.uid())) OR (\'é\' = "Auth".uid()))'
    )


def test_rls_initplan_stable_user_functions_with_constant_arguments() -> None:
    helper = function("current_tenant", volatility="s")
    volatile = function("random_tenant", volatility="v")
    p = policy("t", "todos", using="tenant_id = current_tenant() OR tenant_id = random_tenant()")
    todos = f.table("todos", rls_enabled=True)
    [finding] = findings("rls_initplan", tables=[todos], policies=[p], functions=[helper, volatile])
    assert finding.evidence["calls"] == ["current_tenant()"]
    off = Config(options={"rls_initplan": {"include_stable_functions": False}})
    assert findings("rls_initplan", off, tables=[todos], policies=[p], functions=[helper]) == []


def test_rls_initplan_silent_when_rls_is_disabled() -> None:
    p = policy("p", "todos", using="user_id = auth.uid()")
    assert findings("rls_initplan", tables=[f.table("todos")], policies=[p]) == []


def test_rls_initplan_rewrites_nested_call_once() -> None:
    [finding] = _initplan("user_id = coalesce(auth.uid(), auth.uid())")
    assert finding.fix is not None
    assert "coalesce((SELECT auth.uid()), (SELECT auth.uid()))" in finding.fix.sql


# -- multiple_permissive_policies --


def _overlap(policies: list[s.Policy], rls: bool = True) -> list[Finding]:
    return findings(
        "multiple_permissive_policies",
        tables=[f.table("orders", rls_enabled=rls)],
        policies=policies,
    )


def test_multiple_permissive_policies_expand_all_and_public() -> None:
    found = _overlap(
        [
            policy("read own", "orders", command="SELECT", roles=["authenticated"]),
            policy("admins", "orders", command="ALL", roles=["authenticated"]),
            policy("everyone", "orders", command="SELECT", roles=["public"]),
        ]
    )
    # Only SELECT has two or more policies for authenticated; other commands have one.
    assert [(x.object, x.evidence["policies"]) for x in found] == [
        ("public.orders (role authenticated, SELECT)", ["admins", "everyone", "read own"]),
    ]
    assert found[0].severity == Severity.LOW


def test_multiple_permissive_policies_public_reported_once() -> None:
    found = _overlap([policy("a", "orders"), policy("b", "orders", roles=["public"])])
    assert [x.object for x in found] == [
        "public.orders (role PUBLIC, DELETE)",
        "public.orders (role PUBLIC, INSERT)",
        "public.orders (role PUBLIC, SELECT)",
        "public.orders (role PUBLIC, UPDATE)",
    ]


def test_multiple_permissive_policies_silent_cases() -> None:
    distinct = [
        policy("r", "orders", command="SELECT", roles=["anon"]),
        policy("w", "orders", command="INSERT", roles=["anon"]),
        policy("x", "orders", command="SELECT", roles=["authenticated"]),
        policy("restrictive", "orders", command="SELECT", roles=["anon"], permissive=False),
    ]
    assert _overlap(distinct) == []
    assert _overlap([policy("a", "orders"), policy("b", "orders")], rls=False) == []


# -- rls_policy_always_true --


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True), ("1 = 1", True), ("'t'::boolean", True), ("NOT false", True),
        ("(user_id = auth.uid()) OR true", True), ("true AND (1 < 2)", True),
        ("'a'::text = 'a'::text", True), ("false", False), ("1 = 2", False),
        ("user_id = auth.uid()", False), ("true AND (user_id = 1)", False), (None, False),
        ("1 = '1'::text", False), ("", False), ("not valid sql (", False),
    ],
)  # fmt: skip
def test_is_constant_true(text: str | None, expected: bool) -> None:
    assert is_constant_true(text) is expected


def _always_true(*policies: s.Policy, rls: bool = True) -> list[Finding]:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=rls)
    return findings("rls_policy_always_true", **supabase(tables=[todos], policies=list(policies)))


def test_rls_policy_always_true_by_command() -> None:
    found = _always_true(
        policy("anyone edits", "todos", command="UPDATE", using="true", roles=["anon"]),
        policy("anyone reads", "todos", command="SELECT", using="1 = 1", roles=["public"]),
        policy("anyone writes", "todos", command="INSERT", using=None, with_check="true"),
        policy("anyone deletes", "todos", command="DELETE", using="true", roles=["authenticated"]),
        policy("own", "todos", command="ALL", using="user_id = auth.uid()", with_check="true"),
    )
    got = {x.object: x.severity for x in found}
    assert got == {
        'public.todos (policy "anyone edits")': Severity.HIGH,
        'public.todos (policy "anyone deletes")': Severity.HIGH,
        'public.todos (policy "anyone writes")': Severity.MEDIUM,
        "public.todos (policy own)": Severity.MEDIUM,
        'public.todos (policy "anyone reads")': Severity.LOW,
    }
    edits = next(x for x in found if "edits" in x.object)
    assert edits.evidence["exposed_to"] == ["anon"]


def test_rls_policy_always_true_silent_cases() -> None:
    assert _always_true(policy("ok", "todos", using="user_id = auth.uid()")) == []
    assert _always_true(policy("r", "todos", using="true", permissive=False)) == []
    assert _always_true(policy("off", "todos", using="true"), rls=False) == []
    # A role without privileges on the table gains nothing from the policy.
    assert _always_true(policy("x", "todos", using="true", roles=["service_role"])) == []
    owner_only = f.table("jobs", rls_enabled=True)
    assert (
        findings(
            "rls_policy_always_true",
            roles=[login("app")],
            tables=[owner_only],
            policies=[policy("all", "jobs", using="true")],
        )
        == []
    )


def test_policy_checks_cover_user_policies_on_platform_tables() -> None:
    # Supabase users write their own policies on storage.objects; RLS itself is the platform's.
    roles = [*supabase_roles(), f.role("supabase_admin", login=True, superuser=True)]
    objects = f.table("objects", schema="storage", owner="supabase_admin", rls_enabled=True)
    mine = policy("own files", "objects", schema="storage", using="owner = auth.uid()")
    sections: dict[str, Any] = dict(roles=roles, tables=[objects], policies=[mine])
    [finding] = findings("rls_initplan", **sections)
    assert finding.object == 'storage.objects (policy "own files")'
    assert findings("rls_enabled_no_policy", roles=roles, tables=[objects]) == []


def test_rls_policy_always_true_needs_grant_and_policy_on_the_same_role() -> None:
    # authenticator can become anon (which has the grant) or authenticated (which has the
    # policy), never both at once: nobody passes this policy with a privilege to use.
    acl = ["postgres=arwdDxt/postgres", "anon=rw/postgres"]
    todos = f.table("todos", owner="postgres", acl=acl, rls_enabled=True)
    edits = policy("edits", "todos", command="UPDATE", using="true", roles=["authenticated"])
    assert findings("rls_policy_always_true", **supabase(tables=[todos], policies=[edits])) == []


def test_update_policy_with_only_with_check_true_updates_nothing_alone() -> None:
    # No USING of its own and none from another UPDATE/ALL policy: no row can be updated.
    lone = policy("upd", "todos", command="UPDATE", using=None, with_check="true")
    assert _always_true(lone) == []
    # With another UPDATE policy choosing the rows, any new values pass: a real finding.
    rows = policy("own rows", "todos", command="UPDATE", using="user_id = auth.uid()")
    [found] = _always_true(lone, rows)
    assert found.object == "public.todos (policy upd)" and found.severity is Severity.MEDIUM
    # An ALL policy's USING chooses rows for UPDATE too; a SELECT policy's does not.
    reads = policy("reads", "todos", command="SELECT", using="user_id = auth.uid()")
    assert _always_true(lone, reads) == []
    everything = policy("all own", "todos", command="ALL", using="user_id = auth.uid()")
    assert [x.object for x in _always_true(lone, everything)] == ["public.todos (policy upd)"]


def _teams(*extra: s.Policy, functions: list[s.Function] | None = None) -> list[Finding]:
    members = f.table("members", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    docs = f.table("docs", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    join = policy("join any team", "members", command="INSERT", using=None, with_check="true")
    return findings(
        "rls_policy_always_true",
        **supabase(tables=[members, docs], policies=[join, *extra], functions=functions or []),
    )


def test_always_true_insert_on_a_table_other_policies_trust_is_critical() -> None:
    assert [x.severity for x in _teams()] == [Severity.MEDIUM]  # nobody relies on members
    subquery = policy(
        "team docs", "docs",
        using="team_id IN (SELECT members.team_id FROM members WHERE user_id = auth.uid())",
    )  # fmt: skip
    [found] = _teams(subquery)
    assert found.severity is Severity.CRITICAL
    assert found.evidence["trusted_by"] == ['public.docs (policy "team docs")']
    assert "grants whatever those policies allow" in found.detail
    # the same trust through a function the policy calls (the usual is_member() helper)
    helper = function(
        "is_member", identity_args="team integer",
        body="SELECT EXISTS (SELECT 1 FROM public.members m WHERE m.team_id = team)",
    )  # fmt: skip
    via_function = policy("team docs", "docs", using="is_member(team_id)")
    [found] = _teams(via_function, functions=[helper])
    assert found.severity is Severity.CRITICAL
    # a function that reads another table does not make members trusted
    other = function(
        "is_member", identity_args="team integer", body="SELECT true FROM public.docs_owners"
    )
    assert [x.severity for x in _teams(via_function, functions=[other])] == [Severity.MEDIUM]
