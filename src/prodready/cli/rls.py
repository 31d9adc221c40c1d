"""`rls-test`: prove tenant isolation by trying to break it (every attempt rolled back)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prodready.cli._app import DbOption, _check_format, _progress, _require_db, _stdout, app
from prodready.errors import EXIT_FINDINGS


@app.command("rls-test")
def rls_test_cmd(
    db: DbOption = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="rls.toml: identity mode/setting, roles, tenants."),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="An app role to attack as (repeat); default: discovered."),
    ] = None,
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", help="Tenant A (the attacker) then B; default: discovered."),
    ] = None,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", min=10, help="statement_timeout per attempt.")
    ] = 2000,
    perf: Annotated[
        bool,
        typer.Option(
            "--perf",
            help="Also time the workload's reads as a tenant and without the policies "
            "(EXPLAIN ANALYZE in rolled-back transactions): what the policies cost.",
        ),
    ] = False,
    workload: Annotated[
        list[str] | None,
        typer.Option("--workload", "-w", help="pg_stat_statements (default) or FILE.sql."),
    ] = None,
    measure_fixes: Annotated[
        bool,
        typer.Option(
            "--measure-fixes",
            help="With --perf: apply the policy rewrites and tenant-column indexes inside "
            "the rolled-back transactions and time again. Takes locks: staging only.",
        ),
    ] = False,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
) -> None:
    """Attack row-level security: read, change, move and insert other tenants' rows.

    Finds the tenant tables and how identity reaches the database (Supabase JWT claims or
    a custom setting such as app.tenant_id), picks two real tenants, and tries every
    command as every app role as tenant A against tenant B's rows, and as anon with no
    identity. Every attempt runs in a transaction that is rolled back, with a statement
    timeout; row counts before and after prove nothing changed. Needs a superuser or
    BYPASSRLS role that may SET ROLE to the app's roles. Exit 1 on any leak, 3 when the
    roles cannot be switched to.
    """
    from prodready.rls.pipeline import attack_isolation, load_options
    from prodready.rls.render import print_terminal, render_json, render_markdown

    db = _require_db(db)
    _check_format(format, ("terminal", "json", "md"))
    options = load_options(
        config, roles=role, tenants=tenant, timeout_ms=timeout_ms, perf=perf,
        workload=workload, measure_fixes=measure_fixes,
    )  # fmt: skip
    with _progress(enabled=True) as progress:
        result = attack_isolation(db, options, progress)
    if format == "json":
        sys.stdout.write(render_json(result))
    elif format == "md":
        sys.stdout.write(render_markdown(result))
    else:
        print_terminal(result, _stdout())
    if result.leaks:
        raise typer.Exit(EXIT_FINDINGS)
