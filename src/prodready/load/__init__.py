"""Load tests that tell the truth: open-model HTTP load, thresholds, the database under load.

`run_load(LoadOptions(url=...))` runs a scenario and returns a `LoadReport`; `render` formats it.
"""

from __future__ import annotations

from prodready.load.pipeline import LoadOptions, plan_load, run_load
from prodready.load.report import LoadReport

__all__ = ["LoadOptions", "LoadReport", "plan_load", "run_load"]
