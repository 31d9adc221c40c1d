"""The benchmarks' one door to prodready's advisor: workload intake, bind, advise.

Kept in one place so both harnesses call the product API the same way, and so they still run
(baselines, timings) on a checkout where the advisor is not importable.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from prodready.advisor.model import AdvisorResult, BoundQuery, Skipped, WorkloadQuery

ADVISOR_TIMEOUT_MS = 60_000


def available() -> bool:
    """True when the workload intake and the engine can be imported."""
    try:
        for module in ("engine", "workload", "params"):
            importlib.import_module(f"prodready.advisor.{module}")
    except ImportError:
        return False
    return True


def from_sql_file(path: Path) -> list[WorkloadQuery]:
    workload: Any = importlib.import_module("prodready.advisor.workload")
    return list(workload.from_sql_file(path))


def from_pg_stat_statements(conn: psycopg.Connection) -> list[WorkloadQuery]:
    workload: Any = importlib.import_module("prodready.advisor.workload")
    return list(workload.from_pg_stat_statements(conn))


def bind(
    conn: psycopg.Connection, queries: Sequence[WorkloadQuery]
) -> tuple[list[BoundQuery], list[Skipped]]:
    module: Any = importlib.import_module("prodready.advisor.workload")
    if not hasattr(module, "bind"):
        module = importlib.import_module("prodready.advisor.params")
    bound, skipped = module.bind(list(queries), conn)
    return list(bound), list(skipped)


def advise(
    dsn: str,
    bound: Sequence[BoundQuery],
    skipped: Sequence[Skipped] = (),
    **options: Any,
) -> AdvisorResult:
    """Run the engine in a session of its own (HypoPG state is per session)."""
    engine: Any = importlib.import_module("prodready.advisor.engine")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {ADVISOR_TIMEOUT_MS}")
        result: AdvisorResult = engine.advise(conn, list(bound), skipped=list(skipped), **options)
    return result


def describe_error(exc: BaseException) -> dict[str, str]:
    """An engine failure as the benchmark records it: the message and where it happened."""
    return {
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)[-6:]),
    }


def hit_rate(result: AdvisorResult) -> float | None:
    """Share of cost lookups the engine answered from its plan cache."""
    lookups = result.whatif_calls + result.cache_hits
    return None if lookups == 0 else result.cache_hits / lookups
