"""The advisor plans every statement as the role that runs it, so row-level security shapes
the what-if plans as it shapes production's: under a policy, a qual whose operator is not
leakproof (ILIKE) can never be an index condition, and no trigram index can serve it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from prodready.advisor.analysis import TableName
from prodready.advisor.candidates import IndexKey, make
from prodready.advisor.engine import advise
from prodready.advisor.model import AdvisorResult, BoundQuery, WorkloadQuery
from prodready.advisor.render import render_markdown, render_terminal
from prodready.advisor.whatif import PlannedStatement, WhatIf, role_access
from tests.conftest import TestDatabase

READER = "advisor_reader"  # the app's API role: the policies apply to it
STRANGER = "advisor_stranger"  # a role the planning login is no member of
PLANNER = "advisor_planner"  # a login that is no superuser, member of READER only
LISTINGS = TableName("public", "listings")
PASSWORD = secrets.token_urlsafe(18)

SCHEMA = f"""
CREATE EXTENSION hypopg;
CREATE TABLE listings (
    id bigint PRIMARY KEY,
    owner_id int NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    deleted_at timestamptz,
    view_count bigint NOT NULL,
    body text NOT NULL
);
-- 90% active, 2% deleted; a wide body makes the table many times the size of an index
INSERT INTO listings
SELECT g, g % 500,
       (ARRAY['oak', 'pine', 'birch', 'maple', 'cedar'])[1 + g % 5] || ' '
           || (ARRAY['table', 'chair', 'shelf', 'lamp'])[1 + g % 4] || ' ' || g,
       CASE WHEN g % 10 = 0 THEN 'draft' ELSE 'active' END,
       CASE WHEN g % 50 = 1 THEN now() END,
       (g * 7919::bigint) % 100000,
       repeat('x', 400)
FROM generate_series(1, 60000) g;
ALTER TABLE listings ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON listings FOR SELECT TO {READER}
    USING (status = 'active' AND deleted_at IS NULL);
-- a Supabase-style policy on the JWT claims: planning must not need them set
CREATE POLICY own ON listings FOR UPDATE TO {READER}
    USING (owner_id
           = nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::int);
GRANT SELECT, UPDATE ON listings TO {READER}, {STRANGER}, {PLANNER};
VACUUM ANALYZE;
"""

SEARCH = (
    "SELECT id, name FROM listings WHERE name ILIKE '%oak%' AND status = 'active'"
    " AND deleted_at IS NULL ORDER BY view_count DESC LIMIT 20"
)
BUMP = "UPDATE listings SET view_count = view_count + 1 WHERE id = 42"


def create_roles(db: TestDatabase, password: str) -> None:
    """Roles are cluster-wide: create them once, never drop them (other modules may run)."""
    for role, login in ((READER, False), (STRANGER, False), (PLANNER, True)):
        exists = db.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if not exists:
            db.execute(
                sql.SQL("CREATE ROLE {} {}").format(
                    sql.Identifier(role), sql.SQL("LOGIN" if login else "NOLOGIN")
                )
            )
    db.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(PLANNER), sql.Literal(password))
    )
    db.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER), sql.Identifier(PLANNER)))


@pytest.fixture(scope="module")
def shop(db: TestDatabase) -> TestDatabase:
    # synchronous commits: VACUUM can then mark pages all-visible for index-only scans
    db.execute(
        sql.SQL("ALTER DATABASE {} SET synchronous_commit = on").format(sql.Identifier(db.name))
    )
    create_roles(db, PASSWORD)
    db.run_script(SCHEMA)
    return db


@pytest.fixture
def conn(shop: TestDatabase) -> Iterator[psycopg.Connection]:
    with psycopg.connect(shop.dsn, autocommit=True) as connection:
        connection.execute("SET max_parallel_workers_per_gather = 0")
        yield connection


def as_role(text: str, role: str | None, calls: float = 100.0) -> BoundQuery:
    query = WorkloadQuery(text[:40], text, calls, "test.sql", role=role)
    return BoundQuery(query, text, "literal")


def definitions(result: AdvisorResult) -> list[str]:
    return [i.definition for i in result.indexes]


def test_under_rls_the_search_gets_an_ordered_partial_index_and_no_trigram_index(
    conn: psycopg.Connection,
) -> None:
    result = advise(conn, [as_role(SEARCH, READER)])
    # the covering form (INCLUDE (id, name)) was as good in the greedy; the pruning pass
    # keeps the slimmer one, which serves the walk as well for less disk and fewer writes
    assert definitions(result) == [
        'CREATE INDEX CONCURRENTLY "listings_view_count_part_idx" ON "public"."listings"'
        " (\"view_count\" DESC) WHERE deleted_at IS NULL AND status = 'active'"
    ]
    assert any(
        n.startswith("not recommended: public.listings(view_count DESC) INCLUDE (id, name)")
        and "does as much for less disk and fewer writes" in n
        for n in result.notes
    )
    [index] = result.indexes
    [effect] = index.queries
    assert effect.cost_after < effect.cost_before / 5
    [note] = [n for n in result.notes if "USING gin" in n]
    assert note.startswith("not recommended: public.listings USING gin (name gin_trgm_ops)")
    assert f"row-level security applies to {READER}" in note
    assert "ILIKE is not leakproof" in note


def test_a_search_an_index_already_serves_gets_no_uncosted_trigram_index(
    conn: psycopg.Connection,
) -> None:
    """As the owner the ordered search is served by the chosen partial index: a GIN the
    planner could not cost might only turn that LIMIT walk into a bitmap scan and a sort."""
    result = advise(conn, [as_role(SEARCH, None)])
    assert not [i for i in result.indexes if "USING gin" in i.definition]
    assert [i for i in result.indexes if "view_count" in i.definition]
    [note] = [n for n in result.notes if "USING gin" in n]
    assert "already read the table through an index" in note


def test_as_the_owner_a_search_nothing_serves_may_get_a_trigram_index(
    conn: psycopg.Connection,
) -> None:
    search = "SELECT id, name FROM listings WHERE name ILIKE '%oak chair 1%'"
    result = advise(conn, [as_role(search, None)])
    [gin] = [i for i in result.indexes if "USING gin" in i.definition]
    assert gin.definition.endswith('USING gin ("name" "gin_trgm_ops")')
    assert gin.confidence == "unvalidated"
    # pg_trgm ships with the server but is not created in this database: the advice says so
    assert gin.reason.startswith("requires CREATE EXTENSION pg_trgm first")
    assert "requires CREATE EXTENSION pg_trgm first" in gin.to_json()["reason"]
    for text in (render_terminal(result), render_markdown(result)):
        assert "CREATE EXTENSION pg_trgm" in text
    assert not any("USING gin" in n for n in result.notes)


def test_a_role_the_login_cannot_become_is_planned_as_the_login(shop: TestDatabase) -> None:
    dsn = shop.dsn_as(PLANNER, PASSWORD)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert role_access(conn, [READER, STRANGER, "advisor_nobody"]) == {
            READER: None,
            STRANGER: f"the login {PLANNER} is not a member of it",
            "advisor_nobody": "the role does not exist in this cluster",
        }
        result = advise(
            conn,
            [as_role(SEARCH, READER), as_role(SEARCH + " ", STRANGER), as_role(BUMP, READER)],
        )
        assert conn.execute("SELECT current_user").fetchone() == (PLANNER,)
    assert result.explained == 3 and result.skipped == []
    [note] = [n for n in result.notes if n.startswith("planned as")]
    assert note == (
        f"planned as {PLANNER} instead of the role that runs them, so that role's row-level"
        f" security is not reflected in their plans: {STRANGER} (1 statement(s)):"
        f" the login {PLANNER} is not a member of it"
    )


def test_plans_are_cached_per_role_and_hypothetical_indexes_survive_set_role(
    conn: psycopg.Connection,
) -> None:
    ordered = make(LISTINGS, [IndexKey("view_count", desc=True)])
    as_owner = PlannedStatement(1, SEARCH, frozenset({LISTINGS}))
    as_reader = PlannedStatement(1, SEARCH, frozenset({LISTINGS}), role=READER)
    update = PlannedStatement(2, BUMP, frozenset({LISTINGS}), writes=True, role=READER)
    with WhatIf(conn) as whatif:
        owner, reader = whatif.plan(as_owner, ()), whatif.plan(as_reader, ())
        assert whatif.planner_calls == 2 and whatif.cache_hits == 0
        assert owner.cost != reader.cost  # the policy's quals are in the reader's plan
        assert whatif.plan(as_reader, ()) == reader and whatif.cache_hits == 1
        hypothetical = whatif.plan(as_reader, {ordered})
        assert hypothetical.used == {ordered}
        assert whatif.plan(update, {ordered}).cost > 0  # the JWT policy plans without claims
        assert whatif.rls_applies(READER, LISTINGS) and not whatif.rls_applies(None, LISTINGS)
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    # EXPLAIN only: the row the UPDATE names keeps its count (42 * 7919 % 100000)
    assert conn.execute("SELECT view_count FROM listings WHERE id = 42").fetchone() == (32598,)


def test_a_failed_explain_as_a_role_leaves_the_session_as_the_login(
    conn: psycopg.Connection,
) -> None:
    broken = PlannedStatement(1, "SELECT nope FROM listings", frozenset({LISTINGS}), role=READER)
    dml = PlannedStatement(
        2, "UPDATE listings SET nope = 1", frozenset({LISTINGS}), writes=True, role=READER
    )
    with WhatIf(conn) as whatif:
        for statement in (broken, dml):
            with pytest.raises(Exception, match="nope"):
                whatif.plan(statement, ())
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
