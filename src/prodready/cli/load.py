"""The load command: open-model HTTP load with thresholds (or Locust), and scenario export.

Registered on the main app by `prodready.cli`; only parsing and printing live here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prodready.cli._app import _check_format, _stderr, _stdout, app
from prodready.errors import EXIT_FINDINGS, UsageError

if TYPE_CHECKING:
    from prodready.load.collect import Progress
    from prodready.load.pipeline import LoadOptions
    from prodready.load.report import LoadReport

EXIT_INTERRUPTED = 130


@app.command("load")
def load_cmd(
    url: Annotated[str, typer.Argument(help="The app's URL (loopback unless --allow-host).")],
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            "-s",
            help="A scenario TOML file, or a built-in profile: smoke (default), average, "
            "spike, soak, stress.",
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", "-r", help="Peak offered rate, requests/s.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Total duration: 30s, 5m, 1h.")
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Pass/fail rule, repeatable: 'p95<500ms', 'error_rate<1%', "
            "'GET /x: p99<1s', 'rps>=100'. Any failure exits 1.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json, md or html (with charts).")
    ] = "terminal",
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Also allow this non-loopback host (repeatable)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Sample this database during the run (one read-only session)."),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="prodready (open model) or locust.")
    ] = "prodready",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Locust workers on this machine; 0 prints the commands to start them elsewhere.",
        ),
    ] = 1,
    export: Annotated[
        tuple[str, Path] | None,
        typer.Option(
            "--export",
            help="Write the scenario for another tool instead of running it: "
            "--export locust locustfile.py or --export k6 script.js.",
        ),
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Per-request timeout (default 10s).")
    ] = None,
    connections: Annotated[
        int | None, typer.Option("--connections", min=1, help="Most connections (default 256).")
    ] = None,
    max_requests: Annotated[
        int, typer.Option("--max-requests", min=1, help="Refuse runs that would send more.")
    ] = 5_000_000,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for endpoint picks and ${var} values.")
    ] = None,
) -> None:
    """Load-test an HTTP app at a fixed offered rate and judge it by thresholds.

    Open model: requests leave on a timetable whatever the server does, and each latency is
    measured from the time the request was due, so stalls show up in p99. Requests the
    client could not send within the timeout of their due time are counted as dropped.
    Exit codes: 0 thresholds met; 1 a threshold failed; 2 bad input (scenario, threshold,
    a non-loopback host without --allow-host); 3 target unreachable; 130 interrupted (the
    partial report is printed).
    """
    from prodready.load.pipeline import LoadOptions, plan_load, run_load
    from prodready.load.scenario import parse_duration

    _check_format(format, ("terminal", "json", "md", "html"))
    options = LoadOptions(
        url=url,
        scenario=scenario,
        rate=rate,
        duration=_seconds(parse_duration, duration, "--duration"),
        thresholds=tuple(threshold or ()),
        allow_hosts=tuple(allow_host or ()),
        timeout_s=_seconds(parse_duration, timeout, "--timeout"),
        connections=connections,
        max_requests=max_requests,
        engine=engine,
        workers=workers,
        db=db,
        seed=seed,
    )
    if export is not None:
        _export(options, *export)
        return
    if engine == "locust" and workers == 0:
        from prodready.load.locust import worker_commands

        sys.stdout.write(worker_commands(options, plan_load(options)) + "\n")
        return
    with _live_progress(enabled=engine == "prodready") as progress:
        report = run_load(options, progress=progress)
    _render(report, format)
    if report.run.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if not report.passed:
        raise typer.Exit(EXIT_FINDINGS)


def _seconds(parse: Callable[[object, str], float], value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return parse(value, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _export(options: LoadOptions, tool: str, path: Path) -> None:
    from prodready.load.export import export_scenario
    from prodready.load.pipeline import plan_load

    written = export_scenario(tool, plan_load(options), options, path)
    _stderr().print(f"wrote {tool} scenario to {written}", markup=False)


def _render(report: LoadReport, format: str) -> None:
    from prodready.load.render import render_json, render_markdown, render_terminal

    if format == "json":
        sys.stdout.write(render_json(report))
    elif format == "md":
        sys.stdout.write(render_markdown(report))
    elif format == "html":
        from prodready.load.html import render_html

        sys.stdout.write(render_html(report))
    else:
        render_terminal(report, _stdout())


@contextmanager
def _live_progress(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    """A one-line live display on stderr (rate, p95, errors), only on a terminal."""
    console = _stderr()
    if not (enabled and console.is_terminal):
        yield None
        return
    with console.status("starting load...") as status:

        def show(p: Progress) -> None:
            p95 = "-" if p.p95_ms is None else f"{p.p95_ms:,.1f} ms"
            status.update(
                f"{p.elapsed_s:4.0f}/{p.duration_s:.0f} s  {p.rps:,.0f} req/s  p95 {p95}  "
                f"errors {p.errors:,}  dropped {p.dropped:,}  in flight {p.in_flight:,}"
            )

        yield show
