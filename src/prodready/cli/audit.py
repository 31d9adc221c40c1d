"""`audit`, `snapshot` and `checks`: the database readiness audit and its catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prodready.cli._app import (
    ConfigOption,
    DbOption,
    TimeoutOption,
    _check_format,
    _formats,
    _progress,
    _require_db,
    _severity,
    _stderr,
    _stdout,
    app,
)
from prodready.errors import EXIT_FINDINGS, UsageError

if TYPE_CHECKING:
    from prodready.report.plan import Report


@app.command()
def audit(
    db: DbOption = None,
    snapshot: Annotated[
        Path | None, typer.Option("--snapshot", help="Audit a saved snapshot instead of --db.")
    ] = None,
    format: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            help="terminal, json, md, html, sarif (repeat or comma-separate). "
            "Default: terminal; with --out: all files.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write report.json, PLAN.md, report.html, report.sarif here."
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity."),
    ] = None,
    config: ConfigOption = None,
    statement_timeout: TimeoutOption = 30_000,
    advise: Annotated[
        bool,
        typer.Option(
            "--advise/--no-advise",
            help="Include index advice for the pg_stat_statements workload (live --db only).",
        ),
    ] = True,
    backups: Annotated[
        Path | None,
        typer.Option(
            "--backups",
            help="A `prodready backup` directory: check its dumps and restore drills.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Also probe the running app at this URL (see `prodready probe`); with no "
            "--db, audit the app alone.",
        ),
    ] = None,
    load: Annotated[
        str | None,
        typer.Option(
            "--load",
            help="With --url: also load-test the app with this profile (smoke, average, "
            "spike, soak, stress) against p95 < 500 ms and errors < 1%; loopback only.",
        ),
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="Also scan this source tree (see `prodready scan`): secrets and server-code "
            "hygiene join the same score and plan.",
        ),
    ] = None,
    rls_test: Annotated[
        bool,
        typer.Option(
            "--rls-test",
            help="Also attack tenant isolation (see `prodready rls-test`): write attempts run "
            "in transactions that are rolled back; needs a superuser or BYPASSRLS role.",
        ),
    ] = False,
) -> None:
    """Audit a database (or a saved snapshot), the running app and its source: one score,
    one phased plan, fixes. Any of --db/--snapshot, --url and --repo, alone or together."""
    from prodready.config import load_config
    from prodready.pg.connection import SessionLimits
    from prodready.pipeline import audit_app
    from prodready.report import FILE_FORMATS, render, write_reports

    threshold = _severity(fail_on)
    if db is not None and snapshot is not None:
        raise UsageError("give one of --db (or DATABASE_URL) and --snapshot, not both")
    if db is None and snapshot is None and url is None and repo is None:
        raise UsageError("give --db (or DATABASE_URL), --snapshot, --url or --repo")
    if load is not None and url is None:
        raise UsageError("--load needs --url: the app to load-test")
    formats = _formats(format, list(FILE_FORMATS) if out else ["terminal"])
    settings = load_config(config)
    with _progress(enabled=True) as progress:
        report = audit_app(
            dsn=db,
            snapshot_file=snapshot,
            url=url,
            load_profile=load,
            repo=repo,
            config=settings,
            limits=SessionLimits(statement_timeout_ms=statement_timeout),
            advise=advise,
            progress=progress,
            backups_dir=backups,
            rls_test=rls_test,
        )
    if out is not None:
        files = [f for f in formats if f != "terminal"]
        written = write_reports(report, out, files)
        if "terminal" in formats:
            _print_terminal(report)
        for path in written:
            _stderr().print(f"wrote {path}")
    elif formats == ["terminal"]:
        _print_terminal(report)
    else:
        for fmt in formats:
            text = render(report, fmt)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    for check_id, error in report.failures:
        _stderr().print(f"warning: check {check_id} failed: {error}")
    if threshold is not None and any(f.severity >= threshold for f in report.findings):
        raise typer.Exit(EXIT_FINDINGS)


def _print_terminal(report: Report) -> None:
    from prodready.report.terminal import print_report

    print_report(report, _stdout())


@app.command("snapshot")
def snapshot_cmd(
    db: DbOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the snapshot JSON.")
    ] = Path("snapshot.json"),
    statement_timeout: TimeoutOption = 30_000,
) -> None:
    """Collect a read-only snapshot to audit later or elsewhere (`audit --snapshot`)."""
    from prodready.db.collect import collect
    from prodready.pg.connection import SessionLimits

    db = _require_db(db)
    with _progress(enabled=True) as progress:
        snap = collect(
            db, limits=SessionLimits(statement_timeout_ms=statement_timeout), progress=progress
        )
    try:
        snap.save(output)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    _stderr().print(
        f"wrote {output}: {len(snap.tables)} tables, {len(snap.indexes)} indexes, "
        f"{len(snap.statements or [])} statements"
    )


@app.command()
def checks(
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
) -> None:
    """List every check: id, category, default severity, what it means."""
    from prodready.registry import every_check
    from prodready.report.catalog import render_catalog

    _check_format(format, ("terminal", "json", "md"))
    text = render_catalog(every_check(), format)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
