"""prodready: make a PostgreSQL-backed web app production-ready, and prove it.

The public API is small: `collect` a snapshot, `run_checks` over it, `build_report`,
`render` it; `audit` does all of it in one call.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Finding",
    "Report",
    "Severity",
    "Snapshot",
    "audit",
    "build_report",
    "collect",
    "render",
    "run_checks",
]

# name -> module; imported on first use so the CLI starts fast
_EXPORTS = {
    "Finding": "prodready.model",
    "Report": "prodready.report.plan",
    "Severity": "prodready.model",
    "Snapshot": "prodready.db.snapshot",
    "audit": "prodready.pipeline",
    "build_report": "prodready.report.plan",
    "collect": "prodready.db.collect",
    "render": "prodready.report",
    "run_checks": "prodready.registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'prodready' has no attribute {name!r}")
