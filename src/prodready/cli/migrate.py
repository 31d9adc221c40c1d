"""The change commands: fix (write migrations), apply, rollback, lint-migrations, verify.

Registered on the main app by `prodready.cli`; like it, only parsing and printing live here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prodready.cli._app import (
    ConfigOption,
    DbOption,
    TimeoutOption,
    _check_format,
    _progress,
    _require_db,
    _stderr,
    _stdout,
    app,
)
from prodready.errors import EXIT_FINDINGS, UsageError

if TYPE_CHECKING:
    from prodready.migrate.apply import ApplyOptions, ApplyResult


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
    group: Annotated[
        str,
        typer.Option(
            "--group",
            help="kind: one migration per kind of change (all index builds, all policy "
            "rewrites...); table: per kind and table; none: one per change.",
        ),
    ] = "kind",
    config: ConfigOption = None,
    statement_timeout: TimeoutOption = 30_000,
) -> None:
    """Write the fixes as numbered migrations, each with its rollback, in a safe order.

    Audits --db (read-only, with index advice when pg_stat_statements has a workload) or
    reads a saved report.json. Index builds and drops use CONCURRENTLY and run outside a
    transaction, statement by statement (journaled, so an interrupted group resumes where
    it stopped); every other change runs in one. Review the files, then `prodready apply`.
    """
    from prodready.config import load_config
    from prodready.migrate.model import write_migrations
    from prodready.pg.connection import SessionLimits
    from prodready.pipeline import plan_fixes_for

    _check_format(format, ("sql", "alembic"))
    if group not in ("kind", "table", "none"):
        raise UsageError(f"unknown --group {group!r} (expected kind, table or none)")
    with _progress(enabled=db is not None) as progress:
        plan = plan_fixes_for(
            dsn=db,
            report_file=report,
            config=load_config(config),
            limits=SessionLimits(statement_timeout_ms=statement_timeout),
            only=_split_ids(only),
            include_review=include_review,
            group=group,
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


@app.command("lint-migrations")
def lint_migrations_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Migration files or directories (*.sql).")],
    db: DbOption = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or sarif.")
    ] = "terminal",
    large: Annotated[
        str, typer.Option("--large", help="A table this big counts as large (with --db).")
    ] = "1GB",
    large_rows: Annotated[
        int, typer.Option("--large-rows", min=1, help="Or this many rows (with --db).")
    ] = 10_000_000,
    assume_in_transaction: Annotated[
        bool,
        typer.Option(
            "--assume-in-transaction",
            help="Files that are not prodready's run inside a transaction (as in most frameworks).",
        ),
    ] = False,
    pg_version: Annotated[
        str | None, typer.Option("--pg-version", help="Server version for squawk without --db.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Rule ids to skip (comma-separate).")
    ] = None,
) -> None:
    """Lint migrations: squawk's rules, plus what only the live database knows.

    With --db, each locking statement is sized against the real table: "this ALTER rewrites
    public.orders (3.2 GB, ~41M rows) under ACCESS EXCLUSIVE, ~1 min". Exit 1 on errors.
    """
    from prodready.migrate.lint import LintOptions, lint_paths
    from prodready.migrate.lint_render import render_json, render_sarif, render_terminal
    from prodready.report.json_report import dumps
    from prodready.units import parse_size

    _check_format(format, ("terminal", "json", "sarif"))
    try:
        large_bytes = parse_size(large)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = LintOptions(
        large_bytes=large_bytes,
        large_rows=large_rows,
        assume_in_transaction=assume_in_transaction,
        pg_version=pg_version,
        exclude=tuple(_split_ids(exclude) or ()),
    )
    result = lint_paths(list(paths), db, options)
    if format == "json":
        sys.stdout.write(dumps(render_json(result), pretty=True))
    elif format == "sarif":
        sys.stdout.write(dumps(render_sarif(result), pretty=True))
    else:
        sys.stdout.write(render_terminal(result))
    if result.has_errors:
        raise typer.Exit(EXIT_FINDINGS)


@app.command("verify")
def verify_cmd(
    db: DbOption = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="Measure the workload and save a baseline here.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Replay this baseline and compare (after a change)."),
    ] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload",
            "-w",
            help="With --save: pg_stat_statements (default), FILE.sql ('-- weight:', "
            "'-- role:', '-- set:' lines) or a server log; repeat to combine.",
        ),
    ] = None,
    runs: Annotated[
        int | None, typer.Option("--runs", min=1, help="Timed runs per statement (default 10).")
    ] = None,
    warmup: Annotated[
        int | None, typer.Option("--warmup", min=0, help="Untimed runs first (default 2).")
    ] = None,
    expect_speedup: Annotated[
        float | None,
        typer.Option("--expect-speedup", help="Fail (exit 1) below this weighted speedup."),
    ] = None,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Also time INSERT/UPDATE/DELETE, each in a transaction that is rolled back.",
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the N heaviest statements.")
    ] = None,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Fail when any statement got slower.")
    ] = False,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
    statement_timeout: TimeoutOption = 30_000,
) -> None:
    """Measure the workload for real before a change, and prove the gain after it.

    `--save baseline.json` runs each workload statement N times (server-side planning +
    execution time from EXPLAIN ANALYZE, as its role, inside a rolled-back transaction) and
    keeps times, plans and buffers. `--baseline baseline.json` replays the same statements
    with the same parameters and reports p50/p95 before and after, the speedup, plan changes
    and regressions. Reads use a read-only session.
    """
    from prodready.report.json_report import dumps
    from prodready.verify import (
        VerifyOptions,
        capture_baseline,
        compare_to_baseline,
        load_baseline,
        print_baseline_terminal,
        print_terminal,
        render_baseline_markdown,
        render_json,
        render_markdown,
        save_baseline,
    )

    if (save is None) == (baseline is None):
        raise UsageError("give exactly one of --save FILE and --baseline FILE")
    if baseline is not None and workload:
        raise UsageError("--workload goes with --save; a replay uses the baseline's statements")
    _check_format(format, ("terminal", "json", "md"))
    db = _require_db(db)
    options = VerifyOptions(
        runs=runs,
        warmup=warmup,
        allow_writes=allow_writes,
        statement_timeout_ms=statement_timeout,
        expect_speedup=expect_speedup,
        limit=limit,
        fail_on_regression=fail_on_regression,
    )
    if save is not None:
        with _progress(enabled=True) as progress:
            captured = capture_baseline(
                db, workload or ["pg_stat_statements"], options, progress=progress
            )
        path = save_baseline(captured, save)
        if format == "json":
            sys.stdout.write(path.read_text(encoding="utf-8"))
        elif format == "md":
            sys.stdout.write(render_baseline_markdown(captured))
        else:
            print_baseline_terminal(captured, _stdout())
        _stderr().print(f"wrote {path}", markup=False)
        return
    assert baseline is not None
    before = load_baseline(baseline)  # a bad file fails before we connect
    with _progress(enabled=True) as progress:
        comparison = compare_to_baseline(db, before, options, progress=progress)
    if format == "json":
        sys.stdout.write(dumps(render_json(comparison), pretty=True))
    elif format == "md":
        sys.stdout.write(render_markdown(comparison))
    else:
        print_terminal(comparison, _stdout())
    if not comparison.passed:
        raise typer.Exit(EXIT_FINDINGS)


def _apply_options(
    lock_timeout: str, retries: int, dry_run: bool, statement_timeout: str
) -> ApplyOptions:
    from prodready.migrate.apply import ApplyOptions
    from prodready.units import parse_duration_ms

    try:
        lock_timeout_ms = parse_duration_ms(lock_timeout)
        statement_timeout_ms = parse_duration_ms(statement_timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if lock_timeout_ms <= 0:
        raise UsageError("--lock-timeout must be above 0: without it a DDL lock can queue the app")
    return ApplyOptions(
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
        retries=retries,
        dry_run=dry_run,
    )


LockTimeoutOption = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        help="The longest any statement waits for a lock (and so blocks the app): 2s, 500ms.",
    ),
]
RetriesOption = Annotated[
    int, typer.Option("--retries", min=0, help="Attempts after a lock timeout, with backoff.")
]
StatementTimeoutOption = Annotated[
    str,
    typer.Option(
        "--statement-timeout",
        help="Cancel a statement after this long; 0 (default) lets index builds finish.",
    ),
]
ApplyFormatOption = Annotated[str, typer.Option("--format", "-f", help="terminal or json.")]


def _print_apply(result: ApplyResult, format: str) -> None:
    from prodready.migrate.apply import render_result

    text = render_result(result, "json" if format == "json" else "terminal")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _events() -> Callable[[str], None]:
    console = _stderr()
    return lambda message: console.print(message, markup=False, highlight=False)


@app.command("apply")
def apply_cmd(
    directory: Annotated[Path, typer.Argument(help="The migration directory `fix` wrote.")],
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would run; change nothing.")
    ] = False,
    lock_timeout: LockTimeoutOption = "2s",
    retries: RetriesOption = 5,
    statement_timeout: StatementTimeoutOption = "0",
    format: ApplyFormatOption = "terminal",
) -> None:
    """Apply pending migrations safely, recording each in prodready.migrations.

    One run at a time (advisory lock). Each statement waits at most --lock-timeout for its
    lock, then retries with backoff, so the app is never queued behind us for longer.
    CONCURRENTLY statements run outside a transaction, everything else in one per migration;
    an interrupted or failed index build leaves no INVALID index; the next run resumes.
    Refuses edited (checksum), missing or review-required migrations. Exit 5 when a
    migration fails.
    """
    from prodready.migrate.apply import apply_migrations

    db = _require_db(db)
    options = _apply_options(lock_timeout, retries, dry_run, statement_timeout)
    result = apply_migrations(db, directory, options, on_event=_events())
    _print_apply(result, format)


@app.command("rollback")
def rollback_cmd(
    directory: Annotated[Path, typer.Argument(help="The migration directory.")],
    to: Annotated[
        int, typer.Option("--to", min=0, help="Undo every applied migration numbered above N.")
    ],
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would run; change nothing.")
    ] = False,
    lock_timeout: LockTimeoutOption = "2s",
    retries: RetriesOption = 5,
    statement_timeout: StatementTimeoutOption = "0",
    format: ApplyFormatOption = "terminal",
) -> None:
    """Run the .down.sql of applied migrations above --to, newest first (`--to 0`: all)."""
    from prodready.migrate.apply import rollback_migrations

    db = _require_db(db)
    options = _apply_options(lock_timeout, retries, dry_run, statement_timeout)
    result = rollback_migrations(db, directory, to, options, on_event=_events())
    _print_apply(result, format)


@app.command("migrations")
def migrations_cmd(
    directory: Annotated[Path, typer.Argument(help="The migration directory.")],
    db: DbOption = None,
    format: ApplyFormatOption = "terminal",
) -> None:
    """Show each migration's state: pending, applied, failed, interrupted (read-only)."""
    from prodready.migrate.apply import migration_status, render_status

    db = _require_db(db)
    text = render_status(
        migration_status(db, directory), "json" if format == "json" else "terminal"
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
