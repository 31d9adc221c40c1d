"""The `prodready` command: parse, call a pipeline, render. No decisions live here."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from prodready import __version__
from prodready.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, ProdreadyError, UsageError
from prodready.model import Severity
from prodready.report.plan import Report

EXIT_INTERNAL = 4

app = typer.Typer(
    name="prodready",
    help=(
        "Make a PostgreSQL-backed web app production-ready, and prove it.\n\n"
        "Start with `prodready demo` to see a full audit of a sample marketplace app, then "
        "point `prodready audit --db postgresql://...` at your own database. The audit is "
        "read-only: one session with default_transaction_read_only, statement and lock "
        "timeouts, and nothing stronger than AccessShareLock.\n\n"
        "The loop from findings to proof: `verify --save before.json` (measure), `fix --out "
        "migrations/` (one migration per fix, with its rollback), `lint-migrations "
        "migrations/`, `apply migrations/` (no long locks, journaled, resumable), `verify "
        "--baseline before.json` (measured speedup); `rollback migrations/ --to 0` undoes it.\n\n"
        "Exit codes: 0 ok; 1 findings at or above --fail-on, lint errors, or verify below its "
        "target; 2 usage or input error; "
        "3 target unreachable or insufficient privileges; 4 internal error; "
        "5 a migration failed (apply, rollback: the journal says where)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="DATABASE_URL",
        show_envvar=True,
        help="Connection string (postgresql://user:pass@host/db or 'host=... dbname=...').",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="prodready.toml with thresholds and suppressions "
        "(default: ./prodready.toml or [tool.prodready] in ./pyproject.toml).",
    ),
]
TimeoutOption = Annotated[
    int,
    typer.Option("--statement-timeout", help="Per-statement timeout for the audit session, ms."),
]


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the catalog section being read (only on a terminal)."""
    console = _stderr()
    if not (enabled and console.is_terminal):
        yield lambda _step: None
        return
    with console.status("Connecting...") as status:
        yield lambda step: status.update(f"Collecting {step.replace('_', ' ')}...")


def _formats(values: list[str] | None, default: list[str]) -> list[str]:
    from prodready.report import FORMATS

    chosen = [f.strip() for v in (values or default) for f in v.split(",") if f.strip()]
    for fmt in chosen:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    return chosen


def _require_db(db: str | None) -> str:
    if db is None:
        raise UsageError("--db (or DATABASE_URL) is required")
    return db


def _check_format(format: str, allowed: tuple[str, ...]) -> None:
    """One message for every command: `unknown format 'x' (expected terminal, json or md)`."""
    if format not in allowed:
        expected = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise UsageError(f"unknown format {format!r} (expected {expected})")


def _severity(value: str | None) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


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
) -> None:
    """Audit a database (or a saved snapshot): score, phased plan, fixes."""
    from prodready.config import load_config
    from prodready.pg.connection import SessionLimits
    from prodready.pipeline import audit as run_audit
    from prodready.report import FILE_FORMATS, render, write_reports

    threshold = _severity(fail_on)
    if (db is None) == (snapshot is None):
        raise UsageError("give exactly one of --db (or DATABASE_URL) and --snapshot")
    formats = _formats(format, list(FILE_FORMATS) if out else ["terminal"])
    settings = load_config(config)
    with _progress(enabled=True) as progress:
        _, report = run_audit(
            dsn=db,
            snapshot_file=snapshot,
            config=settings,
            limits=SessionLimits(statement_timeout_ms=statement_timeout),
            advise=advise,
            progress=progress,
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
def advise(
    db: DbOption = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload",
            "-w",
            help="pg_stat_statements (default), FILE.sql (with optional '-- weight: N' lines) "
            "or a server log (FILE.log, FILE.csv); repeat to combine.",
        ),
    ] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Storage budget for new indexes, e.g. 2GB.")
    ] = None,
    max_indexes: Annotated[
        int | None, typer.Option("--max-indexes", min=1, help="At most this many new indexes.")
    ] = None,
    max_index_width: Annotated[
        int, typer.Option("--max-index-width", min=1, max=8, help="Columns per index.")
    ] = 3,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
    statement_timeout: TimeoutOption = 30_000,
) -> None:
    """Recommend indexes (and drops) for the workload the app really runs, with proof.

    Each recommendation carries the planner's cost of every query it helps before and after
    (HypoPG what-if indexes; nothing is built). Read-only on the target.
    """
    from prodready.advisor.engine import advise as run_advisor
    from prodready.advisor.params import bind
    from prodready.advisor.render import print_terminal, render_markdown
    from prodready.advisor.workload import load_workload
    from prodready.pg.connection import SessionLimits, connect
    from prodready.units import parse_size

    db = _require_db(db)
    _check_format(format, ("terminal", "json", "md"))
    try:
        budget_bytes = parse_size(budget) if budget else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    limits = SessionLimits(statement_timeout_ms=statement_timeout)
    with _progress(enabled=True) as progress, connect(db, limits=limits) as conn:
        queries = load_workload(workload or ["pg_stat_statements"], conn)
        if not queries:
            _stderr().print("The workload is empty: nothing to advise on.", markup=False)
            return
        bound, skipped = bind(queries, conn)
        result = run_advisor(
            conn,
            bound,
            skipped=skipped,
            budget_bytes=budget_bytes,
            max_indexes=max_indexes,
            max_index_width=max_index_width,
            progress=progress,
        )
    if format == "json":
        from prodready.report.json_report import dumps

        sys.stdout.write(dumps(result.to_json(), pretty=True))
    elif format == "md":
        sys.stdout.write(render_markdown(result))
    else:
        print_terminal(result, _stdout())


@app.command()
def checks(
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
) -> None:
    """List every check: id, category, default severity, what it means."""
    from prodready.registry import catalog
    from prodready.report.catalog import render_catalog

    _check_format(format, ("terminal", "json", "md"))
    text = render_catalog(catalog(), format)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the demo's reports.")
    ] = Path("prodready-report"),
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the demo cluster running and print its DSN.")
    ] = False,
) -> None:
    """Start a local PostgreSQL, load a sample marketplace app, run its API, audit it."""
    from prodready.demo.pipeline import run_demo

    run_demo(out_dir=out, keep=keep, console=_stdout())


@app.command()
def version() -> None:
    """Print the version."""
    print(f"prodready {__version__}")


def main() -> NoReturn:
    """Entry point: one clear line and a documented exit code for every failure."""
    # SIGTERM runs atexit handlers too (a demo's cluster is stopped, not leaked)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except ProdreadyError as exc:
        _stderr().print(f"prodready: error: {exc}", markup=False)
        code = exc.exit_code
    except KeyboardInterrupt:
        _stderr().print("prodready: interrupted", markup=False)
        code = 130
    except Exception as exc:  # click usage errors and bugs: never a traceback
        code = _report_unexpected(exc)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _report_unexpected(exc: Exception) -> int:
    if isinstance(exc, typer.Abort):
        _stderr().print("prodready: aborted", markup=False)
        return 130
    if isinstance(exc, typer.TyperException):  # usage errors from argument parsing
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _stderr().print(f"prodready: error: {message}", markup=False)
        return EXIT_USAGE
    if os.environ.get("PRODREADY_DEBUG"):
        raise exc
    _stderr().print(
        f"prodready: internal error: {type(exc).__name__}: {exc} "
        "(set PRODREADY_DEBUG=1 for a traceback)",
        markup=False,
    )
    return EXIT_INTERNAL


# the change commands register themselves on `app`; imported last because they use it
from prodready import cli_migrate  # noqa: E402, F401
