"""`scan`: the source scan (secrets and server-code hygiene) of a repository."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from prodready.cli._app import ConfigOption, _check_format, _severity, _stderr, _stdout, app
from prodready.errors import EXIT_FINDINGS, UsageError


@app.command()
def scan(
    path: Annotated[Path, typer.Argument(help="Repository (or file) to scan.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="terminal, json, md or sarif.")
    ] = "terminal",
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help='JSON of secret fingerprints to ignore: [...] or {"fingerprints": [...]}.',
        ),
    ] = None,
    write_baseline: Annotated[
        Path | None,
        typer.Option("--write-baseline", help="Write every secret found as a baseline file."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Scan source code: secrets, SQL built from input, N+1, logging, env, CORS, stacks."""
    from prodready.code.render import FORMATS, print_terminal, render
    from prodready.code.scan import baseline_of
    from prodready.code.scan import scan as run_scan
    from prodready.config import load_config

    _check_format(format, FORMATS)
    threshold = _severity(fail_on)
    result = run_scan(path, baseline=baseline, config=load_config(config))
    if format == "terminal" and out is None:
        print_terminal(result, _stdout())
    else:
        text = render(result, "json" if format == "terminal" else format)
        if out is None:
            sys.stdout.write(text)
        else:
            _write(out, text)
    if write_baseline is not None:
        _write(write_baseline, json.dumps(baseline_of(result), indent=2) + "\n")
    for check_id, error in result.run.failures:
        _stderr().print(f"warning: check {check_id} failed: {error}")
    if threshold is not None and any(f.finding.severity >= threshold for f in result.run.findings):
        raise typer.Exit(EXIT_FINDINGS)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    _stderr().print(f"wrote {path}")
