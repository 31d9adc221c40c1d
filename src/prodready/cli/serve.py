"""`serve` (live dashboard, /metrics, /healthz) and `alerts` (rules matching its thresholds)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from prodready.cli._app import DbOption, _check_format, _require_db, _stderr, app
from prodready.errors import UsageError


def _seconds(text: str, option: str) -> float:
    from prodready.units import parse_duration_ms

    try:
        value = parse_duration_ms(text) / 1000
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if value <= 0:
        raise UsageError(f"{option} must be positive")
    return value


@app.command("serve")
def serve_cmd(
    db: DbOption = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback needs --token.")
    ] = "127.0.0.1",
    refresh: Annotated[str, typer.Option("--refresh", help="Refresh interval (5s, 500ms).")] = "5s",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="PRODREADY_TOKEN",
            help="Require this token (?token= or Authorization: Bearer) except on /healthz.",
        ),
    ] = None,
    backups: Annotated[
        Path | None, typer.Option("--backups", help="Backup directory: show the last drill.")
    ] = None,
    audit_every: Annotated[
        str, typer.Option("--audit-every", help="How often to re-run the audit for the score.")
    ] = "15min",
) -> None:
    """Live dashboard on one read-only monitoring connection; /metrics for Prometheus."""
    from prodready.pg.connection import redact_dsn
    from prodready.serve import Dashboard, ServeOptions

    options = ServeOptions(
        dsn=_require_db(db),
        host=host,
        port=port,
        refresh_s=_seconds(refresh, "--refresh"),
        token=token,
        backups=backups,
        audit_every_s=_seconds(audit_every, "--audit-every"),
    )
    dashboard = Dashboard(options).start()
    _stderr().print(
        f"prodready dashboard for {redact_dsn(options.dsn)} on {dashboard.url} "
        "(/metrics, /healthz); Ctrl-C stops it",
        markup=False,
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        dashboard.stop()


@app.command("alerts")
def alerts_cmd(
    format: Annotated[
        str, typer.Option("--format", "-f", help="prometheus (rule-file YAML) or json.")
    ] = "prometheus",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Alerting rules matching the dashboard's thresholds (they query `serve`'s /metrics)."""
    from prodready.serve.alerts import FORMATS, render_rules

    _check_format(format, FORMATS)
    text = render_rules(format)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    _stderr().print(f"wrote {out}", markup=False)
