"""The change commands: fix (write migrations), apply, rollback, lint-migrations, verify.

Registered on the main app by `prodready.cli`; like it, only parsing and printing live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodready.cli import (
    ConfigOption,
    DbOption,
    TimeoutOption,
    _progress,
    _stderr,
    app,
)
from prodready.errors import UsageError


def _split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@app.command("fix")
def fix_cmd(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for the migrations (created; must not hold them already).",
        ),
    ],
    db: DbOption = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Generate from a saved report.json instead of auditing --db."
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Only these check ids (comma-separate or repeat); `index_advisor` for the "
            "advisor's indexes and drops.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="sql (NNNN_name.up.sql/.down.sql) or alembic.")
    ] = "sql",
    include_review: Annotated[
        bool,
        typer.Option(
            "--include-review",
            help="Also write changes a person must review first (RLS, grants, bigint, "
            "search_path, unvalidated indexes); `apply` refuses them until the "
            "`-- prodready:review-required` line is deleted.",
        ),
    ] = False,
    alembic_down_revision: Annotated[
        str | None,
        typer.Option("--alembic-down-revision", help="Attach the Alembic chain to this revision."),
    ] = None,
    config: ConfigOption = None,
    statement_timeout: TimeoutOption = 30_000,
) -> None:
    """Write one migration per fix, each with its rollback, numbered in a safe order.

    Audits --db (read-only, with index advice when pg_stat_statements has a workload) or
    reads a saved report.json. Index builds and drops use CONCURRENTLY and run outside a
    transaction; every other change runs in one. Review the files, then `prodready apply`.
    """
    from prodready.config import load_config
    from prodready.migrate.model import write_migrations
    from prodready.pg.connection import SessionLimits
    from prodready.pipeline import plan_fixes_for

    if format not in ("sql", "alembic"):
        raise UsageError(f"unknown format {format!r} (expected sql or alembic)")
    with _progress(enabled=db is not None) as progress:
        plan = plan_fixes_for(
            dsn=db,
            report_file=report,
            config=load_config(config),
            limits=SessionLimits(statement_timeout_ms=statement_timeout),
            only=_split_ids(only),
            include_review=include_review,
            progress=progress,
        )
    if format == "alembic":
        from prodready.migrate.alembic import write_alembic

        written = write_alembic(out, plan.migrations, down_revision=alembic_down_revision)
    else:
        written = write_migrations(out, plan.migrations)
    console = _stderr()
    for migration in plan.migrations:
        flag = "  (review required)" if migration.review_required else ""
        console.print(f"  {migration.name}{flag}", markup=False, highlight=False)
    for skip in plan.skipped:
        console.print(
            f"  skipped {skip.source} {skip.object}: {skip.reason}", markup=False, highlight=False
        )
    console.print(
        f"wrote {len(plan.migrations)} migrations ({len(written)} files) to {out}"
        + ("" if plan.migrations else ": nothing to fix"),
        markup=False,
    )
