"""`prodready rls-test` as a story: read the catalog, plan the attack, run it, judge it."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from prodready.db.collect import collect
from prodready.db.snapshot import Snapshot
from prodready.errors import UsageError
from prodready.pg.connection import SessionLimits, connect
from prodready.rls.discover import Plan, discover
from prodready.rls.model import Identity, RlsResult
from prodready.rls.perf import PolicyCosts
from prodready.rls.runner import run


@dataclass(frozen=True)
class RlsOptions:
    """What rls.toml or the command line say; anything left empty is discovered."""

    roles: list[str] | None = None
    tenants: tuple[str, str] | None = None
    identity: Identity | None = None
    timeout_ms: int = 2000
    perf: bool = False  # also time the workload's reads with and without the policies
    workload: tuple[str, ...] = ("pg_stat_statements",)
    measure_fixes: bool = False  # and with the policy rewrites and indexes (staging only)


def attack_isolation(
    dsn: str, options: RlsOptions, progress: Callable[[str], None] | None = None
) -> RlsResult:
    """Attack the database's tenant isolation; every attempt is rolled back."""
    snapshot = collect(dsn, limits=SessionLimits(), progress=progress)
    # writes are attempted (and rolled back), so this session is not read-only
    with connect(dsn, read_only=False, limits=SessionLimits()) as conn:
        plan = discover(
            conn, snapshot, roles=options.roles, tenants=options.tenants,
            identity=options.identity,
        )  # fmt: skip
        result = run(conn, plan, timeout_ms=options.timeout_ms, progress=progress)
        if options.perf:
            result.policy_costs = _policy_costs(conn, snapshot, plan, options).to_json()
        return result


def _policy_costs(
    conn: psycopg.Connection, snapshot: Snapshot, plan: Plan, options: RlsOptions
) -> PolicyCosts:
    from prodready.advisor.params import bind
    from prodready.advisor.workload import load_workload
    from prodready.registry import run_checks
    from prodready.rls.perf import FIX_CHECKS, measure

    queries = load_workload(list(options.workload), conn)
    bound, _ = bind(queries, conn)
    findings = run_checks(snapshot, only=FIX_CHECKS).findings
    return measure(conn, snapshot, plan, bound, findings, measure_fixes=options.measure_fixes)


def load_options(path: Path | None, **overrides: Any) -> RlsOptions:
    """rls.toml, then the command line's values on top."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"malformed {path}: {exc}") from None
    identity = None
    section = data.get("identity")
    if isinstance(section, dict):
        mode = str(section.get("mode", ""))
        if mode not in ("supabase", "guc", "none"):
            raise UsageError(f"{path}: identity.mode must be supabase, guc or none")
        if mode == "guc" and not section.get("setting"):
            raise UsageError(f"{path}: identity.setting names the GUC for mode guc")
        identity = Identity(mode, section.get("setting"), f"from {path}")
    roles = overrides.get("roles") or data.get("roles")
    tenants = overrides.get("tenants") or data.get("tenants")
    if tenants is not None and (not isinstance(tenants, list | tuple) or len(tenants) != 2):
        raise UsageError("give exactly two tenants (A, the attacker, then B)")
    return RlsOptions(
        roles=list(roles) if roles else None,
        tenants=(str(tenants[0]), str(tenants[1])) if tenants else None,
        identity=identity,
        timeout_ms=int(overrides.get("timeout_ms") or data.get("timeout_ms") or 2000),
        perf=bool(overrides.get("perf")),
        workload=tuple(overrides.get("workload") or ("pg_stat_statements",)),
        measure_fixes=bool(overrides.get("measure_fixes")),
    )
