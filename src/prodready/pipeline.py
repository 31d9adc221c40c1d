"""The audit as one story: collect → checks → advise → plan. Rendering is the caller's choice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from prodready.config import Config
from prodready.db.collect import collect
from prodready.db.snapshot import Limitation, Snapshot
from prodready.errors import ProdreadyError, UsageError
from prodready.migrate.generate import FixPlan, plan_fixes
from prodready.pg.connection import SessionLimits, connect
from prodready.registry import CheckRun, run_checks
from prodready.report.plan import Report, build_report


def audit(
    *,
    dsn: str | None = None,
    snapshot_file: Path | None = None,
    snapshot: Snapshot | None = None,
    config: Config | None = None,
    limits: SessionLimits | None = None,
    advise: bool = True,
    advise_dsn: str | None = None,
    progress: Callable[[str], None] | None = None,
    backups_dir: Path | None = None,
    rls_test: bool = False,
) -> tuple[Snapshot, Report]:
    """Audit a live database, a saved snapshot file, or a snapshot in hand.

    With a live database whose pg_stat_statements has a workload, the report carries the
    index advisor's section too (`advise=False` skips it). The advisor plans the workload's
    queries, which needs SELECT on their tables: `advise_dsn` names a role that has it when
    the audit role (e.g. pg_monitor only) does not. `backups_dir` adds what a prodready
    backup directory holds (dumps, drill records) for the backup checks. `rls_test` attacks
    tenant isolation too (writes inside rolled-back transactions; needs a superuser or
    BYPASSRLS role): proven leaks become critical findings and the report shows the matrix.
    """
    if snapshot is None:
        if snapshot_file is not None:
            snapshot = Snapshot.load(snapshot_file)
        elif dsn is not None:
            snapshot = collect(dsn, limits=limits, progress=progress)
        else:
            raise ValueError("audit needs a dsn, a snapshot file or a snapshot")
    if backups_dir is not None:
        from prodready.backup.inventory import backup_state

        snapshot = replace(snapshot, backups=backup_state(backups_dir))
    advisor = None
    if advise and dsn is not None and snapshot.statements:
        advisor, trouble = advise_on_workload(advise_dsn or dsn, limits, progress, snapshot)
        if trouble:
            limitations = [*snapshot.limitations, Limitation("index_advisor", trouble)]
            snapshot = replace(snapshot, limitations=limitations)
    rls = None
    if rls_test and dsn is not None:
        snapshot, rls = _attack_isolation(snapshot, dsn, progress)
    run = run_checks(snapshot, config)
    report = build_report(snapshot, run, advisor)
    return snapshot, replace(report, rls=rls) if rls is not None else report


def _attack_isolation(
    snapshot: Snapshot, dsn: str, progress: Callable[[str], None] | None
) -> tuple[Snapshot, dict[str, Any]]:
    from prodready.db.snapshot import RlsLeakFact
    from prodready.rls.pipeline import RlsOptions, attack_isolation

    result = attack_isolation(dsn, RlsOptions(), progress)
    facts = [
        RlsLeakFact(x.table, x.command, x.role, x.kind, x.rows, x.policy, x.fix, x.statement)
        for x in result.leaks
    ]
    return replace(snapshot, rls_leaks=facts), result.to_json()


def advise_on_workload(
    dsn: str,
    limits: SessionLimits | None,
    progress: Callable[[str], None] | None,
    snapshot: Snapshot | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The advisor JSON for the pg_stat_statements workload, or why there is none."""
    from prodready.advisor.engine import advise
    from prodready.advisor.params import bind
    from prodready.advisor.workload import from_pg_stat_statements

    if progress:
        progress("index_advisor")
    try:
        with connect(dsn, read_only=True, limits=limits) as conn:
            queries = from_pg_stat_statements(conn)
            if not queries:
                return None, None
            bound, skipped = bind(queries, conn)
            result = advise(conn, bound, skipped=skipped, snapshot=snapshot)
    except (ProdreadyError, psycopg.Error) as exc:
        # the audit stands without advice: say what happened rather than fail
        return None, f"the index advisor could not run: {str(exc).splitlines()[0]}"
    denied = [s for s in result.skipped if "permission denied" in s.reason]
    if result.explained == 0 and denied:
        return None, (
            "the index advisor plans the workload's queries, which needs SELECT on their "
            f"tables ({denied[0].reason}); run `prodready advise --db` as the application's role"
        )
    return result.to_json(), None


def plan_fixes_for(
    *,
    dsn: str | None = None,
    report_file: Path | None = None,
    config: Config | None = None,
    limits: SessionLimits | None = None,
    only: list[str] | None = None,
    include_review: bool = False,
    group: str = "kind",
    progress: Callable[[str], None] | None = None,
) -> FixPlan:
    """The migrations for a live database's audit (with advice) or a saved report.json."""
    if (dsn is None) == (report_file is None):
        raise UsageError("give exactly one of --db (or DATABASE_URL) and --report")
    if only:
        from prodready.migrate.generate import ADVISOR
        from prodready.registry import catalog

        known = {c.info.id for c in catalog()} | {ADVISOR}
        unknown = sorted(set(only) - known)
        if unknown:
            raise UsageError(f"unknown check id(s) for --only: {', '.join(unknown)}")
    if report_file is not None:
        report_json = load_report_json(report_file)
    else:
        _, report = audit(dsn=dsn, config=config, limits=limits, progress=progress)
        report_json = report.to_json()
    return plan_fixes(report_json, only=only, include_review=include_review, group=group)


def load_report_json(path: Path) -> dict[str, Any]:
    """A saved `report.json`; anything else is a usage error naming the file."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a prodready report.json ({exc})") from None
    if not isinstance(data, dict) or data.get("tool") != "prodready" or "findings" not in data:
        raise UsageError(f"{path}: not a prodready report.json")
    return data


def audit_app(
    *,
    dsn: str | None = None,
    snapshot_file: Path | None = None,
    url: str | None = None,
    probe_options: Any = None,
    load_profile: str | None = None,
    load_seconds: float | None = None,
    repo: Path | None = None,
    config: Config | None = None,
    **database_options: Any,
) -> Report:
    """The whole app: the database (live or saved), the running HTTP app, or both, in one
    report. Each surface keeps its own collector and checks; the plan is one. With
    `load_profile` (smoke, average...) the app at `url` is load-tested too, against the
    readiness targets (p95 < 500 ms, errors < 1%), and what failed joins the plan. With
    `repo`, the source tree is scanned (secrets, server-code hygiene) into the same plan."""
    report: Report | None = None
    if dsn is not None or snapshot_file is not None:
        _, report = audit(dsn=dsn, snapshot_file=snapshot_file, config=config, **database_options)
    if url is not None:
        report = probe_into(report, url, probe_options, config)
        if load_profile is not None:
            report = _load_into(report, url, load_profile, load_seconds, dsn)
    if repo is not None:
        report = scan_into(report, repo, config)
    if report is None:
        raise UsageError("give --db (or DATABASE_URL), --snapshot, --url or --repo")
    return report


def probe_into(
    report: Report | None, url: str, options: Any, config: Config | None = None
) -> Report:
    """The running app probed over HTTP (bounded), its findings folded into the report."""
    from prodready.http.pipeline import run_probe
    from prodready.report.plan import with_surface

    probed = run_probe(url, options)
    target = {
        "url": url,
        "requests_sent": len(probed.snapshot.exchanges),
        "elapsed_s": probed.snapshot.elapsed_s,
        "not_applicable": probed.not_applicable,
    }
    return with_surface(report, run_checks(probed.snapshot, config), "http", target)


def scan_into(report: Report | None, repo: Path, config: Config | None) -> Report:
    """The source scan's findings as plan items: the fix joins the detail, the file and
    line join the evidence (secrets stay redacted, as the scan keeps them)."""
    from prodready.code.scan import scan
    from prodready.report.plan import with_surface

    result = scan(repo, config=config)
    findings = [
        replace(
            f.finding,
            detail=f"{f.finding.detail} Fix: {f.fix}",
            evidence={**f.finding.evidence, "file": f.file, "line": f.line},
        )
        for f in result.run.findings
    ]
    run = CheckRun(findings=findings, suppressed=list(result.run.suppressed),
                   failures=list(result.run.failures))  # fmt: skip
    target = {
        "root": str(repo),
        "files_scanned": result.files_scanned,
        "elapsed_s": round(result.elapsed_s, 3),
        "notes": result.notes,
    }
    return with_surface(report, run, "repo", target)


# What the readiness plans write down for an API under load.
LOAD_TARGETS = ("p95<500ms", "error_rate<1%")


def _load_into(
    report: Report, url: str, profile: str, seconds: float | None, dsn: str | None
) -> Report:
    from prodready.load.pipeline import LoadOptions, run_load
    from prodready.registry import CheckRun
    from prodready.report.plan import with_surface

    options = LoadOptions(
        url=url, scenario=profile, duration=seconds, thresholds=LOAD_TARGETS, db=dsn
    )
    result = run_load(options)
    data = result.to_json()
    target = {
        key: data[key]
        for key in (
            "engine",
            "offered_rps",
            "achieved_rps",
            "requests",
            "errors",
            "latency_ms",
            "thresholds",
        )
    }
    return with_surface(
        report, CheckRun(findings=list(result.findings)), "load", {"profile": profile, **target}
    )
