"""`demo` and `version`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodready import __version__
from prodready.cli._app import (
    _stdout,
    app,
)


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
