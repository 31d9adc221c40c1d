"""The Typer app, its shared options and the small helpers every command group uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from prodready.errors import UsageError
from prodready.model import Severity

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
        "The app around it: `probe URL` (headers, CORS, errors, rate limits, TLS), `scan PATH` "
        "(secrets, server-code hygiene), `load URL` (open-model load test), `rls-test` "
        "(tenant isolation attacked, rolled back); `audit --db ... --url ... --repo ...` puts "
        "them in one score and plan. Operations: `backup`, `restore`, `serve` (dashboard, "
        "/metrics, alert rules).\n\n"
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
