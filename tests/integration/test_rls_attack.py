"""rls-test on a planted database: ten kinds of real cross-tenant leak, each also proven by a
hand-written exploit, and a correct twin where every attempt is denied or own-only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from prodready.rls.model import Outcome, RlsResult
from prodready.rls.pipeline import RlsOptions, attack_isolation
from tests.conftest import TestDatabase
from tests.integration.test_checks_rls import module_roles, prepare_supabase

A = "00000000-0000-0000-0000-00000000000a"
B = "00000000-0000-0000-0000-00000000000b"
C = "00000000-0000-0000-0000-00000000000c"
OWN = "owner = (SELECT auth.uid())"

# One table per kind of leak (schema leaky) and its correct twin (schema twin).
PLANTED = f"""
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{{}}')::jsonb $$;
CREATE TABLE public.app_users (id uuid PRIMARY KEY);
INSERT INTO public.app_users VALUES ('{A}'), ('{B}'), ('{C}');
CREATE SCHEMA leaky; CREATE SCHEMA twin;
GRANT USAGE ON SCHEMA leaky, twin TO anon, authenticated;
DO $$
DECLARE s text; t text;
BEGIN
  FOREACH s IN ARRAY ARRAY['leaky', 'twin'] LOOP
    FOREACH t IN ARRAY ARRAY['no_rls', 'signed_in', 'null_escape', 'update_true',
                             'delete_true', 'insert_true', 'move', 'parent', 'metadata',
                             'owned'] LOOP
      EXECUTE format('CREATE TABLE %I.%I (id bigint PRIMARY KEY, owner uuid NOT NULL
                      REFERENCES public.app_users, body text)', s, t);
      EXECUTE format('INSERT INTO %I.%I SELECT g, CASE WHEN g <= 3 THEN %L::uuid
                      WHEN g <= 5 THEN %L::uuid ELSE %L::uuid END, ''note '' || g
                      FROM generate_series(1, 6) g', s, t, '{A}', '{B}', '{C}');
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO authenticated', s, t);
    END LOOP;
    EXECUTE format('CREATE TABLE %I.items (id bigint PRIMARY KEY,
                    note_id bigint NOT NULL REFERENCES %I.parent, qty int)', s, s);
    EXECUTE format('INSERT INTO %I.items SELECT g, g, 1 FROM generate_series(1, 6) g', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.items TO authenticated', s);
  END LOOP;
END $$;
GRANT SELECT ON leaky.null_escape, twin.null_escape TO anon;

-- leaky: each table lets tenant A reach tenant B's rows one way
ALTER TABLE leaky.signed_in ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON leaky.signed_in FOR SELECT TO authenticated
  USING (owner = auth.uid() OR auth.uid() IS NOT NULL);
ALTER TABLE leaky.null_escape ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON leaky.null_escape FOR SELECT TO anon, authenticated
  USING (auth.uid() IS NULL OR owner = auth.uid());
ALTER TABLE leaky.update_true ENABLE ROW LEVEL SECURITY;
CREATE POLICY r ON leaky.update_true FOR SELECT TO authenticated USING ({OWN});
CREATE POLICY u ON leaky.update_true FOR UPDATE TO authenticated USING (true);
ALTER TABLE leaky.delete_true ENABLE ROW LEVEL SECURITY;
CREATE POLICY r ON leaky.delete_true FOR SELECT TO authenticated USING ({OWN});
CREATE POLICY d ON leaky.delete_true FOR DELETE TO authenticated USING (true);
ALTER TABLE leaky.insert_true ENABLE ROW LEVEL SECURITY;
CREATE POLICY r ON leaky.insert_true FOR SELECT TO authenticated USING ({OWN});
CREATE POLICY i ON leaky.insert_true FOR INSERT TO authenticated WITH CHECK (true);
ALTER TABLE leaky.move ENABLE ROW LEVEL SECURITY;
CREATE POLICY r ON leaky.move FOR SELECT TO authenticated USING ({OWN});
CREATE POLICY u ON leaky.move FOR UPDATE TO authenticated USING ({OWN}) WITH CHECK (true);
ALTER TABLE leaky.parent ENABLE ROW LEVEL SECURITY;
CREATE POLICY a ON leaky.parent FOR ALL TO authenticated USING ({OWN}) WITH CHECK ({OWN});
ALTER TABLE leaky.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY r ON leaky.items FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM leaky.parent p WHERE p.id = note_id));
CREATE VIEW leaky.all_notes AS SELECT id, owner, body FROM leaky.parent;
GRANT SELECT ON leaky.all_notes TO authenticated;
CREATE FUNCTION leaky.get_note(note bigint) RETURNS text LANGUAGE sql SECURITY DEFINER
  SET search_path = '' AS $$ SELECT body FROM leaky.parent WHERE id = note $$;
GRANT EXECUTE ON FUNCTION leaky.get_note(bigint) TO authenticated;
ALTER TABLE leaky.metadata ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON leaky.metadata FOR SELECT TO authenticated
  USING (owner = auth.uid() OR (auth.jwt() -> 'user_metadata' ->> 'role') = 'admin');
ALTER TABLE leaky.owned ENABLE ROW LEVEL SECURITY;  -- not FORCEd: its owner skips it
CREATE POLICY a ON leaky.owned FOR ALL USING ({OWN}) WITH CHECK ({OWN});

-- twin: the same shapes, every command pinned to the owner
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['no_rls', 'signed_in', 'null_escape', 'update_true',
                           'delete_true', 'insert_true', 'move', 'parent', 'metadata',
                           'owned'] LOOP
    EXECUTE format('ALTER TABLE twin.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY own ON twin.%I FOR ALL USING ({OWN}) WITH CHECK ({OWN})', t);
  END LOOP;
END $$;
ALTER TABLE twin.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON twin.items FOR ALL TO authenticated
  USING (EXISTS (SELECT 1 FROM twin.parent p WHERE p.id = note_id AND p.{OWN}))
  WITH CHECK (EXISTS (SELECT 1 FROM twin.parent p WHERE p.id = note_id AND p.{OWN}));
CREATE VIEW twin.all_notes WITH (security_invoker = true) AS
  SELECT id, owner, body FROM twin.parent;
GRANT SELECT ON twin.all_notes TO authenticated;
CREATE FUNCTION twin.get_note(note bigint) RETURNS text LANGUAGE sql SECURITY DEFINER
  SET search_path = '' AS $$
  SELECT body FROM twin.parent WHERE id = note AND owner = (SELECT auth.uid()) $$;
GRANT EXECUTE ON FUNCTION twin.get_note(bigint) TO authenticated;
ALTER TABLE twin.owned FORCE ROW LEVEL SECURITY;
"""


@pytest.fixture(scope="module")
def planted(db: TestDatabase) -> Iterator[RlsResult]:
    prepare_supabase(db)
    db.execute(PLANTED)
    with module_roles(db) as roles:
        owner = roles.create("rls_owner")  # the app connects as the tables' owner
        db.execute(f'GRANT USAGE ON SCHEMA leaky, twin TO "{owner}"')
        for table in ("leaky.owned", "twin.owned"):
            db.execute(f'ALTER TABLE {table} OWNER TO "{owner}"')
        yield attack_isolation(db.dsn, RlsOptions(timeout_ms=2000))
        for table in ("leaky.owned", "twin.owned"):
            db.execute(f"ALTER TABLE {table} OWNER TO postgres")


def cell(result: RlsResult, table: str, command: str, role: str) -> Outcome:
    [found] = [a for a in result.matrix if (a.table, a.command, a.role) == (table, command, role)]
    return found.outcome


def exploit(db: TestDatabase, statement: str) -> int:
    """Run one statement as tenant A (authenticated), rolled back; rows it reached."""
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET LOCAL ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claim.sub', %s, true)", (A,))
        cursor = conn.execute(statement)
        row = cursor.fetchone() if cursor.description else None
        rows = row[-1] if row is not None else cursor.rowcount
        conn.rollback()
    return int(rows)


def test_the_run_finds_the_tenants_and_changes_nothing(planted: RlsResult) -> None:
    assert planted.identity.mode == "supabase"
    assert planted.tenants == {"a": A, "b": B}
    assert planted.roles[:2] == ["anon", "authenticated"]
    assert [r for r in planted.roles[2:] if r.startswith("rls_owner")] == planted.roles[2:]
    assert planted.rows_changed == 0 and planted.attempts > 100


@pytest.mark.parametrize(
    ("table", "command", "role", "kind", "proof"),
    [
        ("leaky.no_rls", "SELECT", "authenticated", "read_other",
         f"SELECT count(*) FROM leaky.no_rls WHERE owner = '{B}'"),
        ("leaky.signed_in", "SELECT", "authenticated", "read_other",
         f"SELECT count(*) FROM leaky.signed_in WHERE owner = '{B}'"),
        # with a WHERE the SELECT policy applies; without one it does not, and B's rows go
        ("leaky.update_true", "UPDATE", "authenticated", "update_blind",
         "UPDATE leaky.update_true SET body = NULL"),
        ("leaky.delete_true", "DELETE", "authenticated", "delete_blind",
         "DELETE FROM leaky.delete_true"),
        ("leaky.insert_true", "INSERT", "authenticated", "insert_as_other",
         f"INSERT INTO leaky.insert_true VALUES (99, '{B}', 'planted')"),
        ("leaky.move", "UPDATE", "authenticated", "move_to_other",
         f"UPDATE leaky.move SET owner = '{B}'"),  # with a WHERE the SELECT policy stops it
        ("leaky.all_notes", "SELECT", "authenticated", "view_bypass",
         f"SELECT count(*) FROM leaky.all_notes WHERE owner = '{B}'"),
        ("leaky.get_note(note bigint)", "EXECUTE", "authenticated", "definer_function",
         "SELECT count(*) FROM (SELECT leaky.get_note(4) AS b) x WHERE b IS NOT NULL"),
        ("leaky.metadata", "SELECT", "authenticated", "read_other_metadata",
         f"SELECT set_config('request.jwt.claims', '{{\"sub\": \"{A}\", "
         f"\"user_metadata\": {{\"role\": \"admin\"}}}}', true), "
         f"(SELECT count(*) FROM leaky.metadata WHERE owner = '{B}')"),
    ],
)  # fmt: skip
def test_each_planted_leak_is_found_and_really_exploitable(
    db: TestDatabase, planted: RlsResult, table: str, command: str, role: str, kind: str,
    proof: str,
) -> None:  # fmt: skip
    [leak] = [x for x in planted.leaks if (x.table, x.command, x.role) == (table, command, role)]
    assert leak.kind == kind and leak.rows > 0
    assert "ROLLBACK;" in leak.statement and "SET LOCAL ROLE" in leak.statement
    assert leak.fix
    assert exploit(db, proof) > (3 if "blind" in kind else 0)  # A owns 3: more is B's


def test_the_null_escape_leaks_to_anon(db: TestDatabase, planted: RlsResult) -> None:
    assert cell(planted, "leaky.null_escape", "SELECT", "anon") is Outcome.LEAK
    assert cell(planted, "leaky.null_escape", "SELECT", "authenticated") is Outcome.OWN_ONLY
    with psycopg.connect(db.dsn) as conn:  # no identity at all: every tenant's rows
        conn.execute("SET LOCAL ROLE anon")
        row = conn.execute("SELECT count(DISTINCT owner) FROM leaky.null_escape").fetchone()
        conn.rollback()
    assert row == (3,)


def test_an_app_connecting_as_the_owner_skips_unforced_rls(
    db: TestDatabase, planted: RlsResult
) -> None:
    owner = next(r for r in planted.roles if r.startswith("rls_owner"))
    assert cell(planted, "leaky.owned", "SELECT", owner) is Outcome.LEAK
    assert cell(planted, "twin.owned", "SELECT", owner) is Outcome.OWN_ONLY  # FORCEd
    with psycopg.connect(db.dsn) as conn:  # the exploit: the owner reads B's rows
        conn.execute(f'SET LOCAL ROLE "{owner}"')
        conn.execute("SELECT set_config('request.jwt.claim.sub', %s, true)", (A,))
        row = conn.execute(f"SELECT count(*) FROM leaky.owned WHERE owner = '{B}'").fetchone()
        conn.rollback()
    assert row == (2,)


def test_the_correct_twin_is_all_denied_or_own_only(planted: RlsResult) -> None:
    twin = [a for a in planted.matrix if a.table.startswith("twin.")]
    assert {a.table for a in twin} >= {f"twin.{t}" for t in ("no_rls", "items", "move")}
    assert {a.outcome for a in twin} <= {Outcome.DENIED, Outcome.OWN_ONLY}
    assert not [x for x in planted.leaks if x.table.startswith("twin.")]
    assert cell(planted, "twin.move", "UPDATE", "authenticated") is Outcome.OWN_ONLY


def test_every_leak_table_is_planted(planted: RlsResult) -> None:
    assert {x.table for x in planted.leaks} == {
        "leaky.no_rls", "leaky.signed_in", "leaky.null_escape", "leaky.update_true",
        "leaky.delete_true", "leaky.insert_true", "leaky.move",
        "leaky.all_notes", "leaky.get_note(note bigint)", "leaky.metadata", "leaky.owned",
    }  # fmt: skip


def test_json_contract(planted: RlsResult) -> None:
    data = json.loads(json.dumps(planted.to_json()))
    assert set(data) >= {"tenants", "identity", "matrix", "leaks", "rows_changed", "elapsed_s"}
    assert set(data["matrix"][0]) >= {"table", "command", "role", "outcome", "statement", "rows"}
    assert set(data["leaks"][0]) == {
        "table", "command", "role", "kind", "statement", "rows", "policy", "fix"
    }  # fmt: skip
    assert data["rows_changed"] == 0


def test_the_static_checks_name_the_planted_mistakes_and_spare_the_twin(
    db: TestDatabase, planted: RlsResult
) -> None:
    checks = ["rls_not_forced", "policy_null_escape", "policy_user_metadata",
              "security_definer_function_exposed", "rls_policy_always_true", "rls_disabled",
              "security_definer_view", "policy_missing_with_check"]  # fmt: skip
    found = {(x.check, x.object) for c in checks for x in db.findings(c)}
    assert ("rls_not_forced", "leaky.owned") in found
    assert ("policy_null_escape", "leaky.null_escape (policy p)") in found
    assert ("policy_user_metadata", "leaky.metadata (policy p)") in found
    assert ("security_definer_function_exposed", "leaky.get_note(note bigint)") in found
    assert ("rls_policy_always_true", "leaky.update_true (policy u)") in found
    assert ("rls_disabled", "leaky.no_rls") in found
    assert ("security_definer_view", "leaky.all_notes") in found
    assert not [o for _, o in found if o.startswith("twin.") and "get_note" not in o]


def test_audit_with_rls_test_puts_proven_leaks_in_phase_1(
    db: TestDatabase, planted: RlsResult
) -> None:
    from prodready.pipeline import audit
    from prodready.report.html import render as render_html
    from prodready.report.markdown import render as render_md

    _, report = audit(dsn=db.dsn, advise=False, rls_test=True)
    proven = [f for f in report.findings if f.check == "rls_leak_proven"]
    assert {f.object for f in proven} >= {
        "leaky.no_rls (SELECT as authenticated)", "leaky.move (UPDATE as authenticated)",
    }  # fmt: skip
    assert all(f.severity.label == "critical" and f.phase == 1 for f in proven)
    assert not [f for f in proven if f.object.startswith("twin.")]
    assert report.rls is not None and report.rls["rows_changed"] == 0
    plan = render_md(report)
    assert "## Tenant isolation (rls-test)" in plan and "**leak**" in plan
    assert 'id="rls"' in render_html(report)
    _, plain = audit(dsn=db.dsn, advise=False)  # without --rls-test nothing is attacked
    assert plain.rls is None and not [f for f in plain.findings if f.check == "rls_leak_proven"]
