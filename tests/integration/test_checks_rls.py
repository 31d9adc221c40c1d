"""Row-level security checks on a real database: Supabase-style roles, fixes and rollbacks.

Also home of the helpers the other security integration modules share: API roles that
are created once and never dropped (other modules may use them), module-unique login
roles that are dropped at the end, and a database owned by a single application role.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg import sql

from prodready.db.snapshot import Snapshot
from prodready.model import Finding, Severity
from prodready.pg.cluster import LocalCluster
from prodready.registry import run_checks
from tests.conftest import TestDatabase, create_database, drop_database

SECURITY_CHECKS = [
    "rls_disabled", "policy_without_rls", "rls_enabled_no_policy", "rls_initplan",
    "multiple_permissive_policies", "rls_policy_always_true",
    "security_definer_function_search_path", "function_search_path_mutable",
    "security_definer_view", "extension_in_public", "public_schema_create",
    "app_role_superuser", "sensitive_columns_exposed",
]  # fmt: skip

# Cluster-wide roles: created if missing, never dropped.
API_ROLES_SQL = """
DO $$
BEGIN
  BEGIN CREATE ROLE anon NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  BEGIN CREATE ROLE authenticated NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  BEGIN CREATE ROLE authenticator LOGIN NOINHERIT;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
END $$;
GRANT anon, authenticated TO authenticator;
"""

# What a Supabase project looks like to the checks: an auth schema whose uid() reads the
# JWT claim from a setting, and the API roles allowed into public and auth.
SUPABASE_SQL = """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
GRANT USAGE ON SCHEMA public, auth TO anon, authenticated;
"""


@dataclass
class LoginRoles:
    """Login roles unique to one test module; dropped (with their grants) at the end."""

    db: TestDatabase
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    created: list[str] = field(default_factory=list)

    def create(self, base: str, options: str = "") -> str:
        name = f"{base}_{self.suffix}"
        self.db.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + options)
            .format(sql.Identifier(name), sql.Literal(self.password))
            .as_string(None)
        )
        self.created.append(name)
        return name

    def dsn(self, name: str, db: TestDatabase | None = None) -> str:
        return (db or self.db).dsn_as(name, self.password)

    def drop_all(self, databases: list[TestDatabase]) -> None:
        for name in reversed(self.created):
            for database in databases:
                database.execute(
                    sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)).as_string(None)
                )
            self.db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)).as_string(None))


def prepare_supabase(db: TestDatabase) -> None:
    db.execute(API_ROLES_SQL)
    db.execute(SUPABASE_SQL)


@contextmanager
def module_roles(db: TestDatabase) -> Iterator[LoginRoles]:
    roles = LoginRoles(db)
    try:
        yield roles
    finally:
        roles.drop_all([db])


@contextmanager
def single_role_app(cluster: LocalCluster, roles: LoginRoles) -> Iterator[TestDatabase]:
    """A database owned by one application login role (Django/Rails style)."""
    app = roles.create("app")
    database = create_database(cluster, "app")
    database.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}")
        .format(sql.Identifier(database.name), sql.Identifier(app))
        .as_string(None)
    )
    try:
        yield database
    finally:
        drop_database(database)


def run_as(dsn: str, statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statements)


def found(db: TestDatabase, check_id: str, snap: Snapshot | None = None) -> dict[str, Finding]:
    return {x.object: x for x in db.findings(check_id, snap)}


def all_security_findings(snap: Snapshot) -> list[Finding]:
    return run_checks(snap, only=SECURITY_CHECKS, strict=True).findings


def assert_fix_round_trip(db: TestDatabase, check_id: str, finding: Finding) -> None:
    """Run the fix: the finding disappears; run the rollback: it comes back, identical."""
    assert finding.fix is not None and finding.fix.rollback_sql is not None
    db.execute(finding.fix.sql)
    assert finding.object not in found(db, check_id)
    db.execute(finding.fix.rollback_sql)
    back = found(db, check_id)
    assert finding.object in back and back[finding.object].fix == finding.fix


# -- fixtures --


@pytest.fixture(scope="module")
def roles(db: TestDatabase) -> Iterator[LoginRoles]:
    prepare_supabase(db)
    with module_roles(db) as created:
        yield created


# -- rls_disabled --


def test_rls_disabled_api_table_fix_and_rollback(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        "CREATE TABLE todos (id int PRIMARY KEY, user_id uuid, title text);"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO anon, authenticated;"
    )
    finding = found(db, "rls_disabled")["public.todos"]
    assert finding.severity == Severity.CRITICAL
    assert finding.evidence["exposed_to"] == ["anon", "authenticated"]
    assert finding.evidence["privileges"] == ["DELETE", "INSERT", "SELECT", "UPDATE"]
    assert finding.fix is not None and finding.fix.needs_review
    assert_fix_round_trip(db, "rls_disabled", finding)


def test_rls_disabled_silent_for_owner_only_and_hidden_schema(
    db: TestDatabase, roles: LoginRoles
) -> None:
    db.execute(
        "CREATE TABLE owner_only (id int);"
        "CREATE SCHEMA internal; CREATE TABLE internal.jobs (id int);"
        "GRANT SELECT ON internal.jobs TO anon;"  # no USAGE on the schema: unreachable
    )
    objects = found(db, "rls_disabled")
    assert "public.owner_only" not in objects and "internal.jobs" not in objects


def test_single_role_app_gets_no_security_findings(
    pg_cluster: LocalCluster, roles: LoginRoles
) -> None:
    with single_role_app(pg_cluster, roles) as app_db:
        app = roles.created[-1]
        run_as(
            roles.dsn(app, app_db),
            """
            CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE,
                                password_hash text, api_token text, updated_at timestamptz);
            CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users,
                                 total numeric);
            CREATE INDEX ON orders (user_id);
            CREATE VIEW order_totals AS SELECT user_id, sum(total) FROM orders GROUP BY 1;
            CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql
              AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
            CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
            """,
        )
        assert all_security_findings(app_db.snapshot(roles.dsn(app, app_db))) == []
        # Audited as the superuser instead, only the audited role itself is reported.
        as_admin = all_security_findings(app_db.snapshot())
        assert [(x.check, x.object) for x in as_admin] == [("app_role_superuser", "role postgres")]


def test_rls_disabled_partition_and_tenant_scoped_login_role(
    db: TestDatabase, roles: LoginRoles
) -> None:
    worker = roles.create("worker")
    db.execute(
        sql.SQL(
            """
            CREATE TABLE events (tenant_id int, at date) PARTITION BY RANGE (at);
            CREATE TABLE events_2026 PARTITION OF events
              FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            ALTER TABLE events ENABLE ROW LEVEL SECURITY;
            CREATE POLICY tenant ON events
              USING (tenant_id = current_setting('app.tenant')::int);
            GRANT SELECT ON events, events_2026 TO {worker};
            CREATE TABLE invoices (id int, tenant_id int);
            CREATE TABLE currencies (code text);
            GRANT SELECT ON invoices, currencies TO {worker};
            """
        )
        .format(worker=sql.Identifier(worker))
        .as_string(None)
    )
    objects = found(db, "rls_disabled")
    assert "public.currencies" not in objects and "public.events" not in objects
    invoices = objects["public.invoices"]
    assert invoices.severity == Severity.HIGH
    assert invoices.evidence["exposed_to"] == [worker]
    assert invoices.evidence["scoping_columns"] == ["tenant_id"]
    partition = objects["public.events_2026"]
    assert partition.evidence["rls_parent"] == "public.events"
    assert partition.fix is not None and not partition.fix.needs_review
    assert_fix_round_trip(db, "rls_disabled", partition)


# -- policy_without_rls and rls_enabled_no_policy --


def test_policy_without_rls_fix_and_rollback(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        "CREATE TABLE notes (id int, user_id uuid);"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO authenticated;"
        "CREATE POLICY own_notes ON notes TO authenticated USING (user_id = auth.uid());"
        "CREATE TABLE protected (id int, user_id uuid);"
        "GRANT SELECT ON protected TO authenticated;"
        "CREATE POLICY own ON protected FOR SELECT TO authenticated USING (user_id = auth.uid());"
        "ALTER TABLE protected ENABLE ROW LEVEL SECURITY;"
    )
    objects = found(db, "policy_without_rls")
    assert "public.protected" not in objects
    finding = objects["public.notes"]
    assert finding.severity == Severity.CRITICAL
    assert finding.evidence["policies"] == ["own_notes"]
    assert finding.fix is not None and not finding.fix.needs_review
    assert "public.notes" not in found(db, "rls_disabled")
    assert_fix_round_trip(db, "policy_without_rls", finding)


def test_rls_enabled_no_policy(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        "CREATE TABLE locked (id int); ALTER TABLE locked ENABLE ROW LEVEL SECURITY;"
        "GRANT SELECT ON locked TO anon;"
        "CREATE TABLE service_only (id int); ALTER TABLE service_only ENABLE ROW LEVEL SECURITY;"
        "CREATE TABLE with_policy (id int); ALTER TABLE with_policy ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY p ON with_policy USING (true);"
    )
    objects = found(db, "rls_enabled_no_policy")
    assert objects["public.locked"].severity == Severity.LOW
    assert objects["public.locked"].evidence["exposed_to"] == ["anon"]
    assert objects["public.service_only"].severity == Severity.INFO
    assert "public.with_policy" not in objects


# -- rls_initplan --


def test_rls_initplan_fix_keeps_semantics(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        """
        CREATE TABLE docs (id int, owner_id uuid, tenant text);
        INSERT INTO docs SELECT g,
          CASE WHEN g % 2 = 0 THEN '00000000-0000-0000-0000-000000000001'::uuid END,
          CASE WHEN g % 3 = 0 THEN 'acme' ELSE 'other' END
        FROM generate_series(1, 60) g;
        ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
        GRANT SELECT, INSERT ON docs TO authenticated;
        CREATE POLICY "read: own" ON docs FOR SELECT TO authenticated
          USING (owner_id = auth.uid() AND tenant = current_setting('app.tenant', true));
        CREATE POLICY insert_own ON docs FOR INSERT TO authenticated
          WITH CHECK (owner_id = auth.uid());
        CREATE POLICY already ON docs FOR SELECT TO anon USING (owner_id = (SELECT auth.uid()));
        """
    )
    objects = found(db, "rls_initplan")
    assert "public.docs (policy already)" not in objects
    finding = objects['public.docs (policy "read: own")']
    assert finding.evidence["calls"] == [
        "auth.uid()", "current_setting('app.tenant'::text, true)"
    ]  # fmt: skip
    assert "public.docs (policy insert_own)" in objects

    def as_user(query: str) -> list[str]:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            conn.execute("SET request.jwt.claim.sub = '00000000-0000-0000-0000-000000000001'")
            conn.execute("SET app.tenant = 'acme'")
            conn.execute("SET ROLE authenticated")
            return [str(row[0]) for row in conn.execute(query).fetchall()]

    before = as_user("SELECT count(*) FROM docs")
    assert before == ["10"]
    assert not any("InitPlan" in line for line in as_user("EXPLAIN SELECT * FROM docs"))
    assert finding.fix is not None and finding.fix.rollback_sql is not None
    db.execute(finding.fix.sql)
    assert as_user("SELECT count(*) FROM docs") == before
    assert any("InitPlan" in line for line in as_user("EXPLAIN SELECT * FROM docs"))
    assert finding.object not in found(db, "rls_initplan")
    db.execute(finding.fix.rollback_sql)
    again = found(db, "rls_initplan")[finding.object]
    assert again.evidence["using"] == finding.evidence["using"]


# -- multiple_permissive_policies --


def test_multiple_permissive_policies(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        """
        CREATE TABLE posts (id int, author uuid, published bool);
        ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read_published ON posts FOR SELECT USING (published);
        CREATE POLICY read_own ON posts FOR SELECT TO authenticated USING (author = auth.uid());
        CREATE POLICY write_own ON posts FOR INSERT TO authenticated
          WITH CHECK (author = auth.uid());
        CREATE POLICY strict ON posts AS RESTRICTIVE FOR SELECT TO authenticated USING (true);
        """
    )
    objects = {k: v for k, v in found(db, "multiple_permissive_policies").items() if "posts" in k}
    assert list(objects) == ["public.posts (role authenticated, SELECT)"]
    finding = objects["public.posts (role authenticated, SELECT)"]
    assert finding.evidence["policies"] == ["read_own", "read_published"]
    assert finding.severity == Severity.LOW and finding.fix is None


# -- rls_policy_always_true --


def test_rls_policy_always_true(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(
        """
        CREATE TABLE comments (id int, author uuid);
        ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
        GRANT SELECT, UPDATE, DELETE ON comments TO anon;
        CREATE POLICY anyone_edits ON comments FOR UPDATE TO anon USING (1 = 1);
        CREATE POLICY own_delete ON comments FOR DELETE TO anon USING (author = auth.uid());
        CREATE POLICY "no grant" ON comments FOR INSERT TO anon WITH CHECK (true);
        """
    )
    objects = {k: v for k, v in found(db, "rls_policy_always_true").items() if "comments" in k}
    assert list(objects) == ["public.comments (policy anyone_edits)"]
    finding = objects["public.comments (policy anyone_edits)"]
    assert finding.severity == Severity.HIGH
    assert finding.evidence["using"] == "1 = 1"
    assert finding.evidence["exposed_to"] == ["anon"]


def test_open_insert_on_a_membership_table_is_critical_and_exploitable(
    db: TestDatabase, roles: LoginRoles
) -> None:
    me, other = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
    db.execute(
        f"""
        CREATE TABLE team_members (team_id int, user_id uuid);
        CREATE TABLE team_docs (id int, team_id int);
        ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
        ALTER TABLE team_docs ENABLE ROW LEVEL SECURITY;
        GRANT SELECT, INSERT ON team_members, team_docs TO authenticated;
        GRANT UPDATE ON team_docs TO authenticated;
        CREATE FUNCTION in_team(t int) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
          SET search_path = '' AS $$
          SELECT EXISTS (SELECT 1 FROM public.team_members m
                         WHERE m.team_id = t AND m.user_id = auth.uid()) $$;
        CREATE POLICY own ON team_members FOR SELECT TO authenticated
          USING (user_id = auth.uid());
        CREATE POLICY join_any ON team_members FOR INSERT TO authenticated WITH CHECK (true);
        CREATE POLICY docs_of_my_teams ON team_docs FOR SELECT TO authenticated
          USING (in_team(team_id));
        CREATE POLICY docs_insert ON team_docs FOR INSERT TO authenticated
          WITH CHECK (in_team(team_id));
        CREATE POLICY no_rows ON team_docs FOR UPDATE TO authenticated WITH CHECK (true);
        INSERT INTO team_members VALUES (1, '{me}'), (2, '{other}');
        INSERT INTO team_docs SELECT g, 1 + g % 2 FROM generate_series(1, 10) g;
        """
    )
    objects = {k: v for k, v in found(db, "rls_policy_always_true").items() if "team_" in k}
    # the UPDATE policy has WITH CHECK (true) but no USING anywhere: it updates nothing
    assert list(objects) == ["public.team_members (policy join_any)"]
    finding = objects["public.team_members (policy join_any)"]
    assert finding.severity is Severity.CRITICAL and finding.phase == 1
    assert finding.evidence["trusted_by"] == [
        "public.team_docs (policy docs_insert)",
        "public.team_docs (policy docs_of_my_teams)",
    ]
    # the exploit the finding describes, rolled back: joining team 2 doubles what I read
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET LOCAL ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claim.sub', %s, true)", (me,))
        before = conn.execute("SELECT count(*) FROM team_docs").fetchone()
        conn.execute("INSERT INTO team_members VALUES (2, %s)", (me,))
        after = conn.execute("SELECT count(*) FROM team_docs").fetchone()
        updated = conn.execute("UPDATE team_docs SET id = id").rowcount
        conn.rollback()
    assert before == (5,) and after == (10,) and updated == 0


# -- hostile identifiers in generated SQL --

HOSTILE_SCHEMA = 'My "Schema" é'
HOSTILE_TABLE = "select"
HOSTILE_POLICY = "p" * 60 + "é"  # 62 bytes
LONG_TABLE = "t" * 63


def test_hostile_identifiers_fix_and_rollback(db: TestDatabase, roles: LoginRoles) -> None:
    ident = sql.Identifier
    db.execute(
        sql.SQL(
            """
            CREATE SCHEMA {schema};
            GRANT USAGE ON SCHEMA {schema} TO anon, authenticated;
            CREATE TABLE {schema}.{table} ({col} uuid, "order" int);
            GRANT SELECT ON {schema}.{table} TO anon;
            CREATE TABLE {schema}.{long} (owner uuid);
            ALTER TABLE {schema}.{long} ENABLE ROW LEVEL SECURITY;
            GRANT SELECT ON {schema}.{long} TO authenticated;
            CREATE POLICY {policy} ON {schema}.{long} TO authenticated
              USING (owner = auth.uid() AND 'it''s (a) "string"' <> current_setting('x.y', true));
            """
        )
        .format(
            schema=ident(HOSTILE_SCHEMA),
            table=ident(HOSTILE_TABLE),
            col=ident('Wé "id"'),
            long=ident(LONG_TABLE),
            policy=ident(HOSTILE_POLICY),
        )
        .as_string(None)
    )
    disabled = found(db, "rls_disabled")['"My ""Schema"" é"."select"']
    assert disabled.severity == Severity.CRITICAL
    assert_fix_round_trip(db, "rls_disabled", disabled)
    key = f'"My ""Schema"" é".{LONG_TABLE} (policy "{HOSTILE_POLICY}")'
    initplan = found(db, "rls_initplan")[key]
    assert_fix_round_trip(db, "rls_initplan", initplan)
