"""rls-test beyond Supabase and on bad input: a custom tenant setting, missing privileges,
nothing to attack; every case one clear line or note, never a partial write."""

from __future__ import annotations

import subprocess
import sys

import pytest
from psycopg import sql

from prodready.errors import TargetError
from prodready.rls.model import Outcome
from prodready.rls.pipeline import RlsOptions, attack_isolation
from tests.conftest import TestDatabase
from tests.integration.test_checks_rls import LoginRoles, module_roles

GUC_APP = """
CREATE TABLE tenants (id int PRIMARY KEY);
INSERT INTO tenants VALUES (1), (2), (3);
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                       amount int, note text);
INSERT INTO invoices SELECT g, 1 + g % 3, g * 10, 'n' FROM generate_series(1, 30) g;
CREATE TABLE projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, name text);
INSERT INTO projects SELECT g, 1 + g % 3, 'p' FROM generate_series(1, 30) g;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY t ON invoices USING (tenant_id = current_setting('app.tenant_id')::int);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY t ON projects USING (tenant_id = current_setting('app.tenant_id')::int)
  WITH CHECK (true);
"""


@pytest.fixture(scope="module")
def roles(db: TestDatabase) -> LoginRoles:
    with module_roles(db) as created:
        yield created


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prodready", "rls-test", "--db", dsn, *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_custom_tenant_setting_is_found_and_attacked(db: TestDatabase, roles: LoginRoles) -> None:
    db.execute(GUC_APP)
    app = roles.create("tenant_app")
    db.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON invoices, projects TO {}")
        .format(sql.Identifier(app)).as_string(None)
    )  # fmt: skip
    result = attack_isolation(db.dsn, RlsOptions(roles=[app]))
    assert result.identity.mode == "guc" and result.identity.setting == "app.tenant_id"
    assert result.rows_changed == 0
    cells = {(a.table, a.command): a for a in result.matrix}
    assert cells[("public.invoices", "SELECT")].outcome is Outcome.OWN_ONLY
    assert cells[("public.invoices", "UPDATE")].outcome is Outcome.OWN_ONLY
    # WITH CHECK (true): a tenant can hand its rows to another, or write rows as another
    assert cells[("public.projects", "UPDATE")].outcome is Outcome.LEAK
    assert sorted((x.table, x.kind) for x in result.leaks) == [
        ("public.projects", "insert_as_other"), ("public.projects", "move_to_other")
    ]  # fmt: skip
    assert "set_config('app.tenant_id'" in result.leaks[0].statement
    done = run(db.dsn, "--role", app, "--format", "json")
    assert done.returncode == 1, done.stderr


def test_an_auditor_that_cannot_see_every_row_is_refused(
    db: TestDatabase, roles: LoginRoles
) -> None:
    viewer = roles.create("rls_viewer")
    done = run(roles.dsn(viewer))
    assert done.returncode == 3
    assert "BYPASSRLS" in done.stderr and "Traceback" not in done.stderr
    assert roles.password not in done.stderr + done.stdout
    with pytest.raises(TargetError, match="superuser"):
        attack_isolation(roles.dsn(viewer), RlsOptions())


def test_a_role_that_cannot_be_switched_to_is_refused(db: TestDatabase) -> None:
    done = run(db.dsn, "--role", "no_such_role_here")
    assert done.returncode == 3 and "does not exist" in done.stderr


def test_one_tenant_only_is_a_note_not_an_error(fresh_db: TestDatabase) -> None:
    fresh_db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, tenant_id int NOT NULL, v text);"
        "INSERT INTO t VALUES (1, 7, 'x');"
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY p ON t USING (tenant_id = current_setting('app.tenant_id')::int);"
    )
    result = attack_isolation(fresh_db.dsn, RlsOptions(roles=[]))
    assert result.leaks == [] and result.rows_changed == 0
    assert any("fewer than two tenants" in n for n in result.notes)


def test_nothing_to_attack(fresh_db: TestDatabase) -> None:
    fresh_db.execute("CREATE TABLE plain (id int)")
    done = run(fresh_db.dsn)
    assert done.returncode == 0, done.stderr
    assert "no tenant-scoped table found" in done.stdout


def test_perf_times_reads_with_and_without_policies_and_with_fixes(
    fresh_db: TestDatabase, tmp_path: pytest.TempPathFactory
) -> None:
    from pathlib import Path

    from tests.integration.test_checks_rls import prepare_supabase

    prepare_supabase(fresh_db)
    fresh_db.execute(
        "CREATE TABLE notes (id bigint PRIMARY KEY, user_id uuid NOT NULL, body text);"
        "INSERT INTO notes SELECT g, ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12,"
        " '0'))::uuid, 'n' FROM generate_series(1, 20000) g;"
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY own ON notes FOR SELECT TO authenticated USING (user_id = auth.uid());"
        "GRANT SELECT ON notes TO authenticated; ANALYZE notes;"
    )
    workload = Path(str(tmp_path)) / "workload.sql"
    workload.write_text("-- weight: 100\nSELECT count(*) FROM notes;\n")
    options = RlsOptions(perf=True, workload=(str(workload),), measure_fixes=True)
    result = attack_isolation(fresh_db.dsn, options)
    costs = result.policy_costs
    assert costs is not None and result.rows_changed == 0
    [measured] = costs["statements"]
    assert measured["role"] == "authenticated" and measured["calls"] == 100
    assert 0.0 <= measured["policy_share"] <= 1.0
    assert measured["with_fixes_ms"] is not None
    assert any(sql.startswith("ALTER POLICY") for sql in costs["fixes_measured"])
    # the rewrite was measured inside a transaction that was rolled back
    [(using,)] = fresh_db.query("SELECT pg_get_expr(polqual, polrelid) FROM pg_policy")
    assert using == "(user_id = auth.uid())"
