"""Privilege parsing, role membership and exposure, from hand-built snapshots.

The small builders below (schema, policy, function, view, extension) are shared by the
security check tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from prodready.db import snapshot as s
from prodready.db.acl import (
    PUBLIC,
    AccessModel,
    AclItem,
    RoleGraph,
    default_acl,
    effective_acl,
    parse_acl,
    parse_aclitem,
    platform_schemas,
    uses_rls,
)
from tests import factories as f

PG15_PUBLIC_ACL = ["pg_database_owner=UC/pg_database_owner", "=U/pg_database_owner"]


def schema(name: str = "public", owner: str = "pg_database_owner", **kw: Any) -> s.Schema:
    acl = PG15_PUBLIC_ACL if name == "public" and owner == "pg_database_owner" else None
    base: dict[str, Any] = dict(name=name, owner=owner, acl=acl, extension=None)
    return s.Schema(**{**base, **kw})


def policy(name: str, table: str = "t", **kw: Any) -> s.Policy:
    base: dict[str, Any] = dict(
        schema="public", table=table, name=name, permissive=True, roles=["public"],
        command="ALL", using="(owner_id = auth.uid())", with_check=None,
    )  # fmt: skip
    return s.Policy(**{**base, **kw})


def function(name: str = "f", **kw: Any) -> s.Function:
    base: dict[str, Any] = dict(
        schema="public", name=name, identity_args="", result_type="integer", kind="f",
        language="plpgsql", security_definer=False, volatility="v", leakproof=False,
        config=None, owner="app", acl=None, extension=None,
    )  # fmt: skip
    return s.Function(**{**base, **kw})


def view(name: str = "v", **kw: Any) -> s.View:
    base: dict[str, Any] = dict(
        schema="public", name=name, kind="v", owner="app", options=[], acl=None, extension=None
    )
    return s.View(**{**base, **kw})


def extension(name: str, schema: str = "public", relocatable: bool = True) -> s.Extension:
    return s.Extension(name=name, schema=schema, version="1.0", relocatable=relocatable)


def login(name: str, **kw: Any) -> s.Role:
    return f.role(name, login=True, **kw)


SUPERUSER = f.role("postgres", login=True, superuser=True, bypassrls=True)


def supabase_roles() -> list[s.Role]:
    return [
        SUPERUSER,
        f.role("anon"),
        f.role("authenticated"),
        f.role("service_role", bypassrls=True),
        login("authenticator", inherit=False, member_of=["anon", "authenticated", "service_role"]),
    ]


# -- aclitem text --


@pytest.mark.parametrize(
    ("text", "grantee", "privileges", "grantable", "grantor"),
    [
        ("app=arwdDxt/app", "app", {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE",
                                    "REFERENCES", "TRIGGER"}, set(), "app"),
        ("=r/owner", PUBLIC, {"SELECT"}, set(), "owner"),
        ("=X/postgres", PUBLIC, {"EXECUTE"}, set(), "postgres"),
        ("bob=r*w/alice", "bob", {"SELECT", "UPDATE"}, {"SELECT"}, "alice"),
        ('"my role"=U*C*/"The Owner"', "my role", {"USAGE", "CREATE"}, {"USAGE", "CREATE"},
         "The Owner"),
        ('"we""ird=/x"=r/app', 'we"ird=/x', {"SELECT"}, set(), "app"),
        ("rôle_é=c/postgres", "rôle_é", {"CONNECT"}, set(), "postgres"),
        ("x=/app", "x", set(), set(), "app"),
    ],
)  # fmt: skip
def test_parse_aclitem(
    text: str, grantee: str, privileges: set[str], grantable: set[str], grantor: str
) -> None:
    item = parse_aclitem(text)
    assert item == AclItem(grantee, grantor, frozenset(privileges), frozenset(grantable))
    assert item.is_public == (grantee == PUBLIC)


@pytest.mark.parametrize("text", ["app", "app=r", '"open=r/app', "app=q/app", "a=r/b/c"])
def test_parse_aclitem_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_aclitem(text)


def test_null_acl_means_default_privileges() -> None:
    assert parse_acl(None) is None
    assert parse_acl([]) == []
    assert default_acl("relation", "app") == [
        AclItem("app", "app", frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE",
                                         "REFERENCES", "TRIGGER"}))
    ]  # fmt: skip
    function_default = default_acl("function", "app")
    assert AclItem(PUBLIC, "app", frozenset({"EXECUTE"})) in function_default
    assert [i.grantee for i in default_acl("schema", "app")] == ["app"]
    # An explicit empty acl (everything revoked) is not the default.
    assert effective_acl([], "function", "app") == []


# -- role membership --


def test_role_graph_is_transitive_and_survives_cycles() -> None:
    graph = RoleGraph(
        [
            f.role("a", member_of=["b"]),
            f.role("b", member_of=["c"]),
            f.role("c", member_of=["a"]),
            f.role("d", superuser=True),
            f.role("e", member_of=["d"]),
            f.role("g", bypassrls=True),
            f.role("h", member_of=["g"]),
        ]
    )
    assert graph.reach("a") == {"a", "b", "c"}
    assert graph.can_act_as("a", "c") and not graph.can_act_as("c", "d")
    assert graph.reach("unknown") == {"unknown"}
    assert graph.is_superuser("e") and not graph.is_superuser("a")
    assert graph.bypasses_rls("h") and graph.bypasses_rls("e") and not graph.bypasses_rls("a")


# -- exposure --


def _model(roles: list[s.Role], **kw: Any) -> AccessModel:
    kw.setdefault("schemas", [schema()])
    return AccessModel(f.snapshot(roles=roles, **kw))


def _table_exposure(model: AccessModel, table: s.Table, columns: Any = ()) -> Any:
    return model.table_exposure(table.acl, table.owner, table.schema, ["SELECT", "INSERT"], columns)


def test_owner_only_table_is_not_exposed() -> None:
    orders = f.table("orders")
    model = _model([SUPERUSER, login("app")], tables=[orders])
    exposure = _table_exposure(model, orders)
    assert not exposure and exposure.roles == [] and not exposure.public


def test_direct_grant_to_login_role() -> None:
    orders = f.table("orders", acl=["app=arwdDxt/app", "reader=r/app"])
    model = _model([SUPERUSER, login("app"), login("reader")], tables=[orders])
    exposure = _table_exposure(model, orders)
    assert exposure.roles == ["reader"] and exposure.privileges == ["SELECT"]
    assert exposure.grants() == ["reader: SELECT"]
    assert not exposure.anonymous


def test_grant_through_group_reaches_noinherit_member() -> None:
    orders = f.table("orders", acl=["app=arwdDxt/app", "readers=r/app"])
    roles = [login("app"), f.role("readers"), login("bob", inherit=False, member_of=["readers"])]
    exposure = _table_exposure(_model(roles, tables=[orders]), orders)
    assert exposure.roles == ["bob"]
    assert exposure.grants() == ["bob: SELECT via readers"]


def test_owner_members_and_superusers_are_not_exposure() -> None:
    orders = f.table("orders", owner="owner_role", acl=["owner_role=arwdDxt/owner_role",
                                                        "=r/owner_role"])  # fmt: skip
    roles = [SUPERUSER, f.role("owner_role"), login("migrator", member_of=["owner_role"]),
             login("admin", member_of=["postgres"])]  # fmt: skip
    exposure = _table_exposure(_model(roles, tables=[orders]), orders)
    assert exposure.roles == [] and exposure.public  # PUBLIC itself still counts


def test_schema_usage_gates_reach() -> None:
    hidden = schema("private", owner="app", acl=["app=UC/app"])
    orders = f.table("orders", schema="private", acl=["app=arwdDxt/app", "=r/app", "bob=r/app"])
    model = _model([login("app"), login("bob")], schemas=[hidden], tables=[orders])
    assert not _table_exposure(model, orders)
    usable = schema("private", owner="app", acl=["app=UC/app", "bob=U/app"])
    model = _model([login("app"), login("bob")], schemas=[usable], tables=[orders])
    exposure = _table_exposure(model, orders)
    assert exposure.roles == ["bob"] and not exposure.public


def test_supabase_api_roles_are_exposure_without_login() -> None:
    todos = f.table("todos", owner="postgres", acl=["postgres=arwdDxt/postgres",
                                                    "anon=arwd/postgres"])  # fmt: skip
    exposure = _table_exposure(_model(supabase_roles(), tables=[todos]), todos)
    assert exposure.api == ["anon"] and exposure.anonymous
    # authenticator only borrows anon's grant: anon stands for that audience.
    assert exposure.roles == ["anon"]
    assert exposure.grants() == ["anon: INSERT", "anon: SELECT"]  # the helper asks for these


def test_login_member_of_an_api_role_with_its_own_grant_is_listed() -> None:
    acl = ["postgres=arwdDxt/postgres", "anon=r/postgres", "app=r/postgres"]
    todos = f.table("todos", owner="postgres", acl=acl)
    roles = [*supabase_roles(), login("app", member_of=["anon"])]
    exposure = _table_exposure(_model(roles, tables=[todos]), todos)
    assert exposure.roles == ["anon", "app"]
    assert exposure.grants() == ["anon: SELECT", "app: SELECT"]


def test_rls_exposure_leaves_out_roles_that_bypass_it() -> None:
    todos = f.table("todos", owner="postgres", acl=["postgres=arwdDxt/postgres",
                                                    "service_role=arwd/postgres"])  # fmt: skip
    model = _model(supabase_roles(), tables=[todos])
    assert _table_exposure(model, todos).roles == ["authenticator"]
    assert not model.table_exposure(todos.acl, todos.owner, todos.schema, ["SELECT"], rls=True)


def test_roles_absent_from_the_database_are_only_public() -> None:
    # Cluster-wide roles the database never mentions (another app's login, a leftover
    # `anon`) are not listed; PUBLIC grants still reach them and are reported as PUBLIC.
    helper = function("helper")
    model = _model([login("app"), login("other_app"), f.role("anon")], functions=[helper])
    exposure = model.function_exposure(helper.acl, helper.owner, helper.schema)
    assert model.candidates == ["app"]
    assert exposure.public and exposure.roles == []


def test_the_audit_session_itself_is_not_a_present_role() -> None:
    monitor = login("monitor", member_of=["pg_monitor"])
    me = f.server(current_user="monitor", session_user="monitor")
    snap = f.snapshot(roles=[login("app"), monitor], server=me, schemas=[schema()])
    assert AccessModel(snap).candidates == []
    seen = s.Activity(
        pid=7, user="monitor", application_name="psql", backend_type="client backend",
        state="idle", xact_age_s=None, query_age_s=None, state_age_s=None,
        wait_event_type=None, wait_event=None, query=None, is_self=False, same_database=True,
    )  # fmt: skip
    snap = f.snapshot(roles=[monitor], server=me, schemas=[schema()], activity=[seen])
    assert AccessModel(snap).candidates == []  # monitoring only: never an exposure path
    # README's audit role: pg_monitor, USAGE on a schema, reading sequences
    reader = schema(acl=["postgres=UC/postgres", "monitor=U/postgres"])
    snap = f.snapshot(roles=[monitor], server=me, schemas=[reader], activity=[seen])
    assert AccessModel(snap).candidates == []


def test_a_monitoring_member_that_writes_rows_is_still_an_app_role() -> None:
    web = login("web", member_of=["pg_monitor"])  # an app granted pg_monitor for /health
    orders = f.table("orders", owner="owner", acl=["owner=arwdDxt/owner", "web=arwd/owner"])
    snap = f.snapshot(roles=[web, login("owner")], tables=[orders], schemas=[schema()])
    assert AccessModel(snap).candidates == ["owner", "web"]


def test_function_default_execute_reaches_other_present_roles() -> None:
    helper = function("helper", owner="postgres")
    orders = f.table("orders", owner="app")
    model = _model([SUPERUSER, login("app")], functions=[helper], tables=[orders])
    exposure = model.function_exposure(helper.acl, helper.owner, helper.schema)
    assert exposure.roles == ["app"] and exposure.grants() == [
        "PUBLIC: EXECUTE", "app: EXECUTE via PUBLIC"
    ]  # fmt: skip
    revoked = model.function_exposure(["postgres=X/postgres"], "postgres", "public")
    assert not revoked


def test_column_grants_are_paths_with_a_column() -> None:
    users = f.table("users", acl=["app=arwdDxt/app"])
    email = f.column("users", "email", acl=["bob=r/app"])
    model = _model([login("app"), login("bob")], tables=[users], columns=[email])
    exposure = _table_exposure(model, users, [("email", ["bob=r/app"]), ("id", None)])
    assert exposure.grants() == ["bob: SELECT (email)"]
    assert exposure.paths[0].column == "email"


def test_platform_schemas_and_rls_use() -> None:
    plain = f.snapshot(roles=[login("app")])
    assert platform_schemas(plain) == frozenset()
    supabase = f.snapshot(roles=[f.role("supabase_admin", superuser=True)])
    assert "auth" in platform_schemas(supabase)
    assert not uses_rls(f.snapshot(tables=[f.table("t")]))
    assert uses_rls(f.snapshot(tables=[f.table("t", rls_enabled=True)]))
    assert uses_rls(f.snapshot(policies=[policy("p")]))
