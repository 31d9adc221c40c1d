"""`probe`: the running app seen from outside, with a small, bounded set of requests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prodready.cli._app import _check_format, _severity, _stdout, app
from prodready.errors import EXIT_FINDINGS, UsageError


@app.command("probe")
def probe_cmd(
    url: Annotated[str, typer.Argument(help="The app's base URL, e.g. http://127.0.0.1:8000.")],
    endpoint: Annotated[
        list[str] | None,
        typer.Option("--endpoint", help="'METHOD /path/{id}' to probe too (repeat)."),
    ] = None,
    login: Annotated[
        str | None,
        typer.Option("--login", help="'POST /api/login': where to look for a rate limit."),
    ] = None,
    max_requests: Annotated[
        int, typer.Option("--max-requests", min=5, max=1000, help="Request budget.")
    ] = 60,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", min=1.0, max=600.0, help="Time budget.")
    ] = 10.0,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="Exit 1 at or above this severity.")
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option("--ca-bundle", help="Trust this CA file too (a staging CA), over https."),
    ] = None,
    http_port: Annotated[
        int,
        typer.Option(
            "--http-port",
            min=1,
            max=65535,
            help="Over https: where plain http should answer with a redirect to https.",
        ),
    ] = 80,
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json or md.")
    ] = "terminal",
) -> None:
    """Probe a running web app: headers, cookies, CORS, error leaks, rate limits, health.

    At most --max-requests requests (60) within --max-seconds (10 s), with a prodready
    User-Agent; only GET, OPTIONS and HEAD on paths you did not name, and POST with a
    made-up account only to the login endpoint (--login, or one found at a common path) and
    a burst of empty JSON objects to the first write endpoint you name (--endpoint 'POST
    /path'). Over https it checks the certificate and that plain http redirects. Bodies are
    read up to 64 KiB and secrets in them redacted.
    """
    from prodready.http.collect import ProbeOptions
    from prodready.http.pipeline import run_probe
    from prodready.http.render import print_terminal, render_json, render_markdown

    _check_format(format, ("terminal", "json", "md"))
    if ca_bundle is not None and not ca_bundle.is_file():
        raise UsageError(f"--ca-bundle: no such file: {ca_bundle}")
    threshold = _severity(fail_on)
    options = ProbeOptions(
        max_requests=max_requests,
        max_seconds=max_seconds,
        login=login,
        endpoints=list(endpoint or []),
        ca_file=str(ca_bundle) if ca_bundle else None,
        http_port=http_port,
    )
    result = run_probe(url, options)
    if format == "json":
        sys.stdout.write(render_json(result))
    elif format == "md":
        sys.stdout.write(render_markdown(result))
    else:
        print_terminal(result, _stdout())
    if threshold is not None and any(f.severity >= threshold for f in result.findings):
        raise typer.Exit(EXIT_FINDINGS)
