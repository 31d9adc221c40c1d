"""`advise`: index recommendations for the workload the app really runs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from prodready.cli._app import (
    DbOption,
    TimeoutOption,
    _check_format,
    _progress,
    _require_db,
    _stderr,
    _stdout,
    app,
)
from prodready.errors import UsageError


@app.command()
def advise(
    db: DbOption = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload",
            "-w",
            help="pg_stat_statements (default), FILE.sql (with optional '-- weight: N' lines), "
            "a server log (FILE.log, FILE.csv) or code:PATH (the SQL a repository's code "
            "runs); repeat to combine.",
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
    temporary_hypopg: Annotated[
        bool,
        typer.Option(
            "--temporary-hypopg/--no-temporary-hypopg",
            help="When the server has HypoPG but the database does not, create it for this "
            "run inside a transaction that is rolled back (default), or never.",
        ),
    ] = True,
    sample_walks: Annotated[
        bool,
        typer.Option(
            "--sample-walks/--no-sample-walks",
            help="Judge an ORDER BY ... LIMIT that would walk a new index by where matching "
            "rows sit in a sample of the table (about 30,000 rows, TABLESAMPLE), or assume "
            "they come last (never reads table rows).",
        ),
    ] = True,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="Staging or a database you own: build each recommended index for real in a "
            "transaction that is rolled back (its table is write-locked while it builds), run "
            "the statements it targets under EXPLAIN ANALYZE with and without it, and keep it "
            "only when they are faster. Needs a role that may create indexes.",
        ),
    ] = False,
) -> None:
    """Recommend indexes (and drops) for the workload the app really runs, with proof.

    Each recommendation carries the planner's cost of every query it helps before and after
    (HypoPG what-if indexes; nothing is built). Read-only on the target: a HypoPG the
    database lacks is borrowed in a transaction that is rolled back.
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
    session = connect(db, limits=limits, read_only=not measure)
    with _progress(enabled=True) as progress, session as conn:
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
            temporary_hypopg=temporary_hypopg,
            sample_walks=sample_walks,
            measure=measure,
        )
    if format == "json":
        from prodready.report.json_report import dumps

        sys.stdout.write(dumps(result.to_json(), pretty=True))
    elif format == "md":
        sys.stdout.write(render_markdown(result))
    else:
        print_terminal(result, _stdout())
