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
from prodready.errors import ProdreadyError
from prodready.pg.connection import SessionLimits, connect
from prodready.registry import run_checks
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
) -> tuple[Snapshot, Report]:
    """Audit a live database, a saved snapshot file, or a snapshot in hand.

    With a live database whose pg_stat_statements has a workload, the report carries the
    index advisor's section too (`advise=False` skips it). The advisor plans the workload's
    queries, which needs SELECT on their tables: `advise_dsn` names a role that has it when
    the audit role (e.g. pg_monitor only) does not.
    """
    if snapshot is None:
        if snapshot_file is not None:
            snapshot = Snapshot.load(snapshot_file)
        elif dsn is not None:
            snapshot = collect(dsn, limits=limits, progress=progress)
        else:
            raise ValueError("audit needs a dsn, a snapshot file or a snapshot")
    advisor = None
    if advise and dsn is not None and snapshot.statements:
        advisor, trouble = advise_on_workload(advise_dsn or dsn, limits, progress)
        if trouble:
            limitations = [*snapshot.limitations, Limitation("index_advisor", trouble)]
            snapshot = replace(snapshot, limitations=limitations)
    run = run_checks(snapshot, config)
    return snapshot, build_report(snapshot, run, advisor)


def advise_on_workload(
    dsn: str, limits: SessionLimits | None, progress: Callable[[str], None] | None
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
            result = advise(conn, bound, skipped=skipped)
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
