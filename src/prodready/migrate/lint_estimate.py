"""What a statement costs: the locks it takes, its duration at an assumed throughput, and the
size evidence every size hit carries."""

from __future__ import annotations

from typing import Any

from prodready.migrate.lint_facts import Relation
from prodready.units import human_bytes

WRITE_MB_S = 50  # rewrites and index builds read, sort and write everything
SCAN_MB_S = 100  # validation scans only read
MB = 1024 * 1024

ACCESS_EXCLUSIVE = ("ACCESS EXCLUSIVE", "blocks reads and writes")
SHARE = ("SHARE", "blocks writes")
SHARE_ROW_EXCLUSIVE = ("SHARE ROW EXCLUSIVE", "blocks writes")
# REINDEX locks each index ACCESS EXCLUSIVE, and planning any query on the table needs them
REINDEX_LOCK = ("SHARE on the table, ACCESS EXCLUSIVE on its indexes", "blocks writes and reads")


def work_seconds(work_bytes: int, mb_per_s: int) -> float:
    return work_bytes / (mb_per_s * MB)


def lock_phrase(lock: tuple[str, str]) -> str:
    return f"{lock[0]} ({lock[1]})"


def describe(rel: Relation, work_bytes: int) -> str:
    return f"{rel.qualified} ({human_bytes(work_bytes)}, {human_rows(rel.rows)})"


def human_rows(rows: float | None) -> str:
    """~41M rows, ~50k rows; the estimate comes from the last ANALYZE or VACUUM."""
    if rows is None:
        return "row count unknown: never analyzed"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if rows >= limit:
            value = rows / limit
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"~{text.removesuffix('.0')}{suffix} rows"
    return f"~{rows:.0f} rows"


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def size_evidence(
    rel: Relation, work: int, seconds: float, rate: int, lock: tuple[str, str]
) -> dict[str, Any]:
    return {
        "table": rel.qualified,
        "relkind": rel.kind,
        "table_bytes": rel.table_bytes,
        "total_bytes": rel.total_bytes,
        "rows_estimate": None if rel.rows is None else int(rel.rows),
        "work_bytes": work,
        "lock": lock[0],
        "blocks": lock[1],
        "estimated_seconds": round(seconds, 1),
        "assumed_mb_per_s": rate,
    }
