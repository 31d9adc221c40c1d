"""The `prodready` command: parse, call a pipeline, render. No decisions live here.

One module per command group; each registers its commands on the shared `app`.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import NoReturn

import typer

from prodready.cli._app import _stderr, app
from prodready.errors import EXIT_OK, EXIT_USAGE, ProdreadyError

EXIT_INTERNAL = 4

# Each command group registers its commands on `app` when imported; `--help` lists them in
# this order. A new group is one module here and one name in this tuple.
COMMAND_GROUPS = (
    "audit",
    "advise",
    "demo",
    "migrate",
    "rls",
    "probe",
    "backup",
    "serve",
    "load",
    "scan",
)
for _group in COMMAND_GROUPS:
    importlib.import_module(f"prodready.cli.{_group}")

__all__ = ["app", "main"]


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
