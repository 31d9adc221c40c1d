"""`prodready demo`: a throwaway cluster, the marketplace app, its traffic, and its audit.

The story: start a local cluster → create the app's database → load schema and data →
replay the API workload (so statistics look like production) → audit → write the reports.
The cluster is stopped at the end unless the caller keeps it to explore.
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg import sql
from rich.console import Console
from rich.status import Status

from prodready.db.snapshot import Snapshot
from prodready.demo import loop, smoke
from prodready.demo.api import running_api
from prodready.demo.data import Scale, load_data, load_schema
from prodready.demo.isolation import Isolation, prove_isolation, summary_line
from prodready.demo.loop import LoopResult
from prodready.demo.workload import (
    DEFAULT_CALLS,
    WorkloadResult,
    reset_statement_stats,
    run_workload,
    write_workload_sql,
)
from prodready.load.report import LoadReport
from prodready.pg.cluster import SUPERUSER, LocalCluster
from prodready.pipeline import audit
from prodready.report import write_reports
from prodready.report.plan import Report
from prodready.verify.render import weighted_line

DATABASE = "marketplace"
API_ROLE = "authenticator"
# The audit runs as a least-privilege monitoring role, the way we recommend running it in
# production; auditing as superuser would make the report about the audit's own login.
AUDIT_ROLE = "prodready_auditor"
WORKLOAD_FILE = "workload.sql"

T = TypeVar("T")


@dataclass
class DemoResult:
    """What the demo produced; `dsn` holds the superuser password of the throwaway cluster."""

    dsn: str
    report: Report
    snapshot: Snapshot
    paths: list[Path]
    timings: dict[str, float]
    workload: WorkloadResult
    kept: bool = False
    datadir: Path | None = None
    stop_command: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    loop: LoopResult | None = None
    load: tuple[LoadReport, LoadReport] | None = None  # the API's smoke load before, after
    isolation: Isolation | None = None  # rls-test before and after the reviewed RLS fixes


def run_demo(
    out_dir: Path,
    keep: bool,
    console: Console,
    *,
    scale: float = 1.0,
    calls: int = DEFAULT_CALLS,
) -> DemoResult:
    """Build, load, exercise and audit the demo marketplace; write the reports to `out_dir`."""
    sizes = Scale.of(scale)  # a bad scale fails before a cluster starts
    steps = _Steps(console)
    cluster = steps.run(
        "cluster", "Starting a local PostgreSQL cluster", lambda: LocalCluster().start()
    )
    try:
        dsn = cluster.dsn(DATABASE)
        api_password = secrets.token_urlsafe(18)
        audit_password = secrets.token_urlsafe(18)
        steps.run(
            "schema",
            "Creating the marketplace app",
            lambda: _create_app(cluster, api_password, audit_password),
        )
        counts = steps.run("data", "Loading data", lambda: _load(dsn, sizes, steps))
        api_dsn = cluster.dsn(DATABASE, user=API_ROLE, password=api_password)
        workload = steps.run(
            "workload", "Replaying the API workload", lambda: _exercise(dsn, api_dsn, calls, steps)
        )
        audit_dsn = cluster.dsn(DATABASE, user=AUDIT_ROLE, password=audit_password)
        snapshot, report = steps.run(
            # advice plans the app's queries, which needs the tables' owner (or SELECT on them)
            "audit",
            f"Auditing as {AUDIT_ROLE}",
            lambda: audit(dsn=audit_dsn, advise_dsn=dsn),
        )
        paths = steps.run("render", "Writing reports", lambda: _write(report, out_dir, dsn))
        with running_api(dsn) as api:  # the app's HTTP API, load-tested before and after
            scenario = smoke.api_scenario(dsn)
            load_before = smoke.step(console, "Load-testing the API (smoke)", api.url, scenario)
            reaudit = functools.partial(audit, dsn=audit_dsn, advise_dsn=dsn)
            fixed = _fix_loop(steps, report, out_dir, dsn, reaudit)
            load_after = smoke.step(console, "Load-testing the API again", api.url, scenario)
            # the same report covers the API seen from outside: probe it, fold it in
            report = steps.run(
                "probe", "Probing the API over HTTP", lambda: _probe_into(report, api.url)
            )
            # and its source: the API's code and a frontend folder, scanned into the same plan
            report = steps.run(
                "scan", "Scanning the app's source tree", lambda: _scan_into(report, out_dir)
            )
            paths = _write(report, out_dir, dsn)
        isolation = steps.run(
            "isolation",
            "Attacking tenant isolation (rls-test), then again after the reviewed fixes",
            lambda: prove_isolation(dsn, report, out_dir),
        )
        paths += [fixed.results_path, isolation.path]
    except BaseException:
        cluster.stop()
        raise
    result = DemoResult(dsn, report, snapshot, paths, steps.timings, workload, counts=counts)
    result.loop, result.load = fixed.loop, (load_before, load_after)
    result.isolation = isolation
    if keep:
        _keep_running(cluster, result)
    else:
        steps.run("stop", "Stopping the cluster", cluster.stop)
    _summarise(console, result, out_dir)
    return result


@dataclass
class _Fixed:
    loop: LoopResult
    results_path: Path


def _fix_loop(
    steps: _Steps,
    report: Report,
    out_dir: Path,
    dsn: str,
    reaudit: Callable[[], tuple[Snapshot, Report]],
) -> _Fixed:
    """audit → fix → lint → measure → apply → measure again → re-audit, as a user would."""
    plan, directory = steps.run(
        "fix", "Writing fix migrations", lambda: loop.write_fixes(report, out_dir)
    )
    linted = steps.run(
        "lint", f"Linting {len(plan.migrations)} migrations", lambda: loop.lint(directory, dsn)
    )
    workload_file = out_dir / WORKLOAD_FILE
    baseline = steps.run(
        "baseline", "Measuring the API queries", lambda: loop.measure(dsn, workload_file, out_dir)
    )
    applied = steps.run(
        "apply", f"Applying {len(plan.migrations)} migrations", lambda: loop.apply(dsn, directory)
    )
    comparison = steps.run(
        "verify", "Measuring again", lambda: loop.measure_again(dsn, baseline, out_dir)
    )
    _, after = steps.run("reaudit", f"Re-auditing as {AUDIT_ROLE}", reaudit)
    write_reports(after, out_dir / "after")
    result = loop.LoopResult(plan, linted, applied, comparison, report, after)
    return _Fixed(result, loop.write_results(result, out_dir))


# -- steps, in the order they run ---------------------------------------------------------------


def _create_app(cluster: LocalCluster, api_password: str, audit_password: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        # JIT compiles every plan that crosses jit_above_cost, which the app's sequential scans
        # on unindexed foreign keys do: 100-400 ms per call on a 2-core machine. OLTP sites
        # commonly turn it off; keeping it on would triple the demo's run time.
        conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(sql.Identifier(DATABASE)))
    with psycopg.connect(cluster.dsn(DATABASE), autocommit=True) as conn:
        load_schema(conn)
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(API_ROLE), sql.Literal(api_password)
            )
        )
        create_audit_role(conn, AUDIT_ROLE, audit_password)


def create_audit_role(conn: psycopg.Connection, role: str, password: str) -> None:
    """The role README recommends for audits: pg_monitor, plus reading sequence positions."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    statement = "ALTER ROLE {} LOGIN PASSWORD {}" if exists else "CREATE ROLE {} LOGIN PASSWORD {}"
    name = sql.Identifier(role)
    conn.execute(sql.SQL(statement).format(name, sql.Literal(password)))
    conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(name))
    # pg_stat_statements lives in the `extensions` schema here, as on Supabase
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA extensions TO {}").format(name))
    conn.execute(sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name))


def _load(dsn: str, sizes: Scale, steps: _Steps) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_data(conn, sizes, on_step=lambda name, _s: steps.update(f"Loading data: {name}"))
        return _row_counts(conn)


def _exercise(dsn: str, api_dsn: str, calls: int, steps: _Steps) -> WorkloadResult:
    """Statistics start with the traffic: the load's own statements would skew them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        reset_statement_stats(conn)
    return run_workload(
        dsn,
        api_dsn,
        calls=calls,
        on_progress=lambda done, total: steps.update(f"Replaying the API workload: {done}/{total}"),
    )


PROBED_ENDPOINTS = ["GET /products/{id}", "GET /orders/{id}/items", "GET /users/{id}/orders"]


def _probe_into(report: Report, url: str) -> Report:
    """The API probed (bounded, loopback) and its findings folded into the report."""
    from prodready.http.collect import ProbeOptions
    from prodready.pipeline import probe_into

    return probe_into(
        report, url, ProbeOptions(login="POST /api/login", endpoints=PROBED_ENDPOINTS)
    )


def _scan_into(report: Report, out_dir: Path) -> Report:
    from prodready.demo.source_tree import write_source_tree
    from prodready.pipeline import scan_into

    return scan_into(report, write_source_tree(out_dir), None)


def _write(report: Report, out_dir: Path, dsn: str) -> list[Path]:
    paths = write_reports(report, out_dir)
    with psycopg.connect(dsn, autocommit=True) as conn:
        paths.append(write_workload_sql(conn, out_dir / WORKLOAD_FILE))
    return paths


def _keep_running(cluster: LocalCluster, result: DemoResult) -> None:
    """Leave the cluster up after we exit: LocalCluster stops itself at exit otherwise."""
    atexit.unregister(cluster.stop)
    result.kept = True
    result.datadir = cluster.datadir
    pg_ctl = f"{cluster.bindir / 'pg_ctl'} -D {cluster.datadir} -m fast stop"
    result.stop_command = f"runuser -u {SUPERUSER} -- {pg_ctl}" if os.geteuid() == 0 else pg_ctl


def _summarise(console: Console, result: DemoResult, out_dir: Path) -> None:
    report = result.report
    counts = ", ".join(f"{n} {label}" for label, n in report.counts().items() if n)
    total = sum(result.timings.values())
    after = result.loop.after if result.loop else None
    console.print()
    console.print(
        f"[bold]Readiness score: {report.score.overall:.1f}/10[/bold]"
        f"  ({len(report.findings)} findings{': ' + counts if counts else ''})"
        + (
            f"  →  after the fixes: [bold]{after.score.overall:.1f}/10[/bold]"
            f" ({len(after.findings)} findings)"
            if after
            else ""
        )
    )
    for category, value in report.score.categories.items():
        tail = f"  →  {after.score.categories.get(category, 0):4.1f}" if after else ""
        console.print(f"  {category:<14} {value:4.1f}{tail}")
    if result.loop is not None:
        _summarise_loop(console, result.loop)
    if result.load is not None:
        console.print(smoke.p95_line(*result.load), markup=False, highlight=False)
    if result.isolation is not None:
        console.print(summary_line(result.isolation), markup=False, highlight=False)
    http = result.report.target.get("http")
    if http:
        from prodready.registry import get

        found = [
            f for f in result.report.findings if (c := get(f.check)) and c.info.surface == "http"
        ]
        console.print(
            f"HTTP probe of the API: {http['requests_sent']} requests, {len(found)} findings "
            "in the report (headers, CORS, debug page, login rate limit...).",
            markup=False,
            highlight=False,
        )
    repo = result.report.target.get("repo")
    if repo:
        from prodready.code.registry import code_catalog

        code_ids = {c.info.id for c in code_catalog()}
        found = [f for f in result.report.findings if f.check in code_ids]
        console.print(
            f"Source scan of {repo['root']}: {repo['files_scanned']} files, {len(found)} findings "
            "in the report (a service_role key in the frontend, console logging...).",
            markup=False,
            highlight=False,
        )
    console.print(f"\nReports in {out_dir}:")
    for path in result.paths:
        console.print(f"  {path}")
    console.print(f"\nDemo finished in {total:.1f}s.")
    if result.kept and result.datadir is not None:
        # The one place prodready prints a password: a local, throwaway demo cluster that
        # listens on 127.0.0.1 only, and the user asked to keep it to explore.
        console.print("\nThe demo cluster is still running. Connect with:")
        stop = f"{result.stop_command} && rm -rf {result.datadir.parent}"
        console.print(f"  psql '{result.dsn}'", markup=False, highlight=False, soft_wrap=True)
        console.print("Stop it and delete its data with:")
        console.print(f"  {stop}", markup=False, highlight=False, soft_wrap=True)


def _summarise_loop(console: Console, fixed: LoopResult) -> None:
    comparison = fixed.comparison
    applied = fixed.applied.counts()["applied"]
    console.print(
        f"\nApplied {applied} migrations (lint: {fixed.lint.errors} errors, "
        f"{fixed.lint.warnings} warnings); {len(fixed.plan.skipped)} changes left for a person."
    )
    console.print(
        f"Measured API workload, database time per minute of traffic: {weighted_line(comparison)}",
        markup=False,
        highlight=False,
    )
    slowest = sorted(
        (row for row in comparison.statements if row.before and row.after),
        key=lambda row: -(row.before.mean_ms * row.statement.calls),  # type: ignore[union-attr]
    )[:6]
    for row in slowest:
        assert row.before is not None and row.after is not None
        console.print(
            f"  {row.statement.label:<26} {row.before.p50_ms:8.2f} ms → {row.after.p50_ms:7.2f} ms"
            f"  {row.speedup or 0:6.1f}x",
            markup=False,
            highlight=False,
        )


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows per app table, exact here because the load ends with VACUUM ANALYZE."""
    rows = conn.execute(
        "SELECT relname, reltuples::bigint FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname"
    ).fetchall()
    return {name: int(n) for name, n in rows}


# -- progress -----------------------------------------------------------------------------------


class _Steps:
    """One spinner per step, then a ✓ line with its duration; timings are kept by step key."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: dict[str, float] = {}
        self._status: Status | None = None

    def run(self, key: str, label: str, action: Callable[[], T]) -> T:
        started = time.perf_counter()
        with self._spinner(label):
            value = action()
        self.timings[key] = time.perf_counter() - started
        self.console.print(f"[green]✓[/green] {label} [dim]{self.timings[key]:.1f}s[/dim]")
        return value

    def update(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)

    @contextmanager
    def _spinner(self, label: str) -> Iterator[None]:
        with self.console.status(label) as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None
