"""The policy-text RLS checks from hand-built snapshots: each fires on a positive case and
stays silent on its negative twin."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from tests import factories as f
from tests.unit.test_acl import function, login, policy, supabase_roles, view
from tests.unit.test_checks_rls import API_GRANTS, findings, supabase

OWN = "(user_id = auth.uid())"


def on_todos(check: str, *policies: s.Policy, **sections: Any) -> list[Finding]:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    sections.setdefault("tables", [todos])
    return findings(check, **supabase(policies=list(policies), **sections))


# -- rls_not_forced --


def test_rls_not_forced_when_a_login_role_owns_the_table() -> None:
    owned = f.table("orders", owner="app", rls_enabled=True)
    forced = f.table("orders", owner="app", rls_enabled=True, rls_forced=True)
    roles = [login("app"), f.role("postgres", login=True, superuser=True)]
    policies = [policy("own", "orders")]
    [found] = findings("rls_not_forced", roles=roles, tables=[owned], policies=policies)
    assert found.object == "public.orders" and found.severity is Severity.MEDIUM
    assert found.fix is not None and "FORCE ROW LEVEL SECURITY" in found.fix.sql
    live = [f.activity(user="app")]
    [high] = findings("rls_not_forced", roles=roles, tables=[owned], policies=policies,
                      activity=live)  # fmt: skip
    assert high.severity is Severity.HIGH
    assert findings("rls_not_forced", roles=roles, tables=[forced], policies=policies) == []
    superuser_owned = f.table("orders", owner="postgres", rls_enabled=True)
    assert findings("rls_not_forced", roles=roles, tables=[superuser_owned],
                    policies=policies) == []  # fmt: skip


# -- policy_missing_with_check --


def test_write_policy_whose_check_ignores_the_writer() -> None:
    loose = policy("upd", "todos", command="UPDATE", using=OWN, with_check="(done IS NOT NULL)")
    [found] = on_todos("policy_missing_with_check", loose)
    assert found.object == "public.todos (policy upd)" and found.severity is Severity.HIGH
    pinned = policy("upd", "todos", command="UPDATE", using=OWN, with_check=OWN)
    implicit = policy("upd", "todos", command="UPDATE", using=OWN, with_check=None)
    helper = policy("ins", "todos", command="INSERT", using=None,
                    with_check="is_member(team_id)")  # fmt: skip
    constant = policy("ins", "todos", command="INSERT", using=None, with_check="true")
    for quiet in (pinned, implicit, helper, constant):
        assert on_todos("policy_missing_with_check", quiet) == []


# -- policy_null_escape --


@pytest.mark.parametrize(
    "expression",
    ["((auth.uid() IS NULL) OR (user_id = auth.uid()))",
     "((user_id = auth.uid()) OR (auth.uid() IS NOT NULL))",
     "COALESCE((user_id = auth.uid()), true)",
     "((current_setting('app.tenant_id'::text, true) IS NULL) OR (tenant_id = 1))"],
)  # fmt: skip
def test_null_escape_fires(expression: str) -> None:
    [found] = on_todos("policy_null_escape", policy("p", "todos", using=expression))
    assert found.severity is Severity.CRITICAL  # TO public: anon included
    [signed_in] = on_todos(
        "policy_null_escape", policy("p", "todos", using=expression, roles=["authenticated"])
    )
    assert signed_in.severity is Severity.HIGH


@pytest.mark.parametrize(
    "expression",
    [OWN, "((deleted_at IS NULL) AND (user_id = auth.uid()))", "((owner IS NULL) OR true)",
     "COALESCE(is_public, false)"],
)  # fmt: skip
def test_null_escape_silent(expression: str) -> None:
    assert on_todos("policy_null_escape", policy("p", "todos", using=expression)) == []


# -- policy_user_metadata --


def test_user_metadata_is_trusted() -> None:
    meta = "(((auth.jwt() -> 'user_metadata'::text) ->> 'role'::text) = 'admin'::text)"
    [found] = on_todos("policy_user_metadata", policy("admins", "todos", using=meta))
    assert found.severity is Severity.CRITICAL
    app_meta = "(((auth.jwt() -> 'app_metadata'::text) ->> 'role'::text) = 'admin'::text)"
    assert on_todos("policy_user_metadata", policy("admins", "todos", using=app_meta)) == []
    column = policy("c", "todos", using="(user_metadata_note IS NOT NULL)")
    assert on_todos("policy_user_metadata", column) == []


# -- policy_mutable_column --


ADMIN = ("(EXISTS ( SELECT 1 FROM profiles p WHERE ((p.id = auth.uid()) "
         "AND (p.role = 'admin'::text))))")  # fmt: skip


def _profiles(acl: list[str], update_policy: bool = True) -> dict[str, Any]:
    profiles = f.table("profiles", owner="postgres", acl=acl, rls_enabled=True)
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    policies = [policy("admins", "todos", using=ADMIN)]
    if update_policy:
        policies.append(policy("own", "profiles", command="UPDATE", using="(id = auth.uid())"))
    columns = [f.column("profiles", "id"), f.column("profiles", "role", 2, type="text")]
    return {"tables": [profiles, todos], "policies": policies, "columns": columns}


def test_policy_trusting_a_column_users_can_rewrite() -> None:
    writable = ["postgres=arwdDxt/postgres", "authenticated=rw/postgres"]
    [found] = findings("policy_mutable_column", **supabase(**_profiles(writable)))
    assert found.object == "public.todos (policy admins)"
    assert found.evidence == {"column": "public.profiles.role", "writers": ["authenticated"]}
    read_only = ["postgres=arwdDxt/postgres", "authenticated=r/postgres"]
    assert findings("policy_mutable_column", **supabase(**_profiles(read_only))) == []
    no_update_policy = _profiles(writable, update_policy=False)
    assert findings("policy_mutable_column", **supabase(**no_update_policy)) == []


# -- security_definer_function_exposed --


def test_definer_function_left_executable_by_the_api() -> None:
    fn = function("grant_me", owner="postgres", security_definer=True, identity_args="x uuid")
    [found] = findings("security_definer_function_exposed", **supabase(functions=[fn]))
    assert found.severity is Severity.HIGH and "PUBLIC" in found.evidence["executable_by"]
    assert found.fix is not None and found.fix.sql.startswith("REVOKE EXECUTE ON FUNCTION")
    signed_in = function("grant_me", owner="postgres", security_definer=True,
                         acl=["postgres=X/postgres", "authenticated=X/postgres"])  # fmt: skip
    [medium] = findings("security_definer_function_exposed", **supabase(functions=[signed_in]))
    assert medium.severity is Severity.MEDIUM
    revoked = function("grant_me", owner="postgres", security_definer=True,
                       acl=["postgres=X/postgres"])  # fmt: skip
    invoker = function("helper", owner="postgres")
    trigger = function("audit", owner="postgres", security_definer=True, result_type="trigger")
    for quiet in (revoked, invoker, trigger):
        assert findings("security_definer_function_exposed", **supabase(functions=[quiet])) == []


# -- app_role_bypassrls --


def test_app_role_with_bypassrls() -> None:
    orders = f.table("orders", owner="postgres",
                     acl=["postgres=arwdDxt/postgres", "worker=arwd/postgres"],
                     rls_enabled=True)  # fmt: skip
    roles = [f.role("postgres", login=True, superuser=True), login("worker", bypassrls=True)]
    [found] = findings("app_role_bypassrls", roles=roles, tables=[orders])
    assert found.object == "role worker" and found.evidence["tables"] == ["public.orders"]
    platform = [*supabase_roles(), f.role("service_role", bypassrls=True, login=True)]
    grants = ["postgres=arwdDxt/postgres", "service_role=arwd/postgres"]
    by_design = f.table("orders", owner="postgres", acl=grants, rls_enabled=True)
    assert findings("app_role_bypassrls", roles=platform, tables=[by_design]) == []
    plain = [f.role("postgres", login=True, superuser=True), login("worker")]
    assert findings("app_role_bypassrls", roles=plain, tables=[orders]) == []


# -- policy_tenant_column_unindexed --


def test_policy_column_without_an_index() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True,
                    reltuples=50_000.0)  # fmt: skip
    own = policy("own", "todos", using=OWN)
    [found] = findings("policy_tenant_column_unindexed",
                       **supabase(tables=[todos], policies=[own]))  # fmt: skip
    assert found.object == "public.todos (user_id)" and found.severity is Severity.MEDIUM
    assert found.fix is not None and "CREATE INDEX CONCURRENTLY" in found.fix.sql
    index = f.index("todos_user_id_idx", "todos", ["user_id"])
    assert findings("policy_tenant_column_unindexed",
                    **supabase(tables=[todos], policies=[own], indexes=[index])) == []  # fmt: skip
    fk = f.constraint("todos_user_fkey", "todos", columns=["user_id"], ref_schema="auth",
                      ref_table="users", ref_columns=["id"])  # fmt: skip
    assert findings("policy_tenant_column_unindexed",
                    **supabase(tables=[todos], policies=[own], constraints=[fk])) == []  # fmt: skip


# -- view_bypasses_rls --


def test_materialized_view_over_an_rls_table() -> None:
    todos = f.table("todos", owner="postgres", acl=API_GRANTS, rls_enabled=True)
    matview = view("todo_stats", kind="m", owner="postgres",
                   acl=["postgres=arwdDxt/postgres", "authenticated=r/postgres"],
                   definition=" SELECT todos.user_id, count(*) AS count FROM todos "
                              "GROUP BY todos.user_id")  # fmt: skip
    [found] = findings("view_bypasses_rls", **supabase(tables=[todos], views=[matview]))
    assert found.object == "public.todo_stats" and found.evidence["reads"] == ["public.todos"]
    private = view("todo_stats", kind="m", owner="postgres", acl=["postgres=arwdDxt/postgres"],
                   definition=" SELECT todos.user_id FROM todos")  # fmt: skip
    plain_view = view("todo_stats", owner="postgres", acl=matview.acl,
                      definition=matview.definition)  # fmt: skip
    for quiet in (private, plain_view):
        assert findings("view_bypasses_rls", **supabase(tables=[todos], views=[quiet])) == []


# -- rls_leak_proven --


def test_proven_leaks_are_critical_and_only_when_an_attack_ran() -> None:
    leak = s.RlsLeakFact("public.notes", "SELECT", "authenticated", "read_other", 2,
                         "row-level security is disabled", "ENABLE ROW LEVEL SECURITY",
                         "BEGIN; ...; ROLLBACK;")  # fmt: skip
    [found] = findings("rls_leak_proven", rls_leaks=[leak])
    assert found.object == "public.notes (SELECT as authenticated)"
    assert found.severity is Severity.CRITICAL and found.phase == 1
    assert found.evidence["reproduce"] == "BEGIN; ...; ROLLBACK;"
    assert findings("rls_leak_proven", rls_leaks=[]) == []
    assert findings("rls_leak_proven") == []
