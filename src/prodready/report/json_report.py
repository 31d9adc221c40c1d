"""report.json: the audit JSON contract of DESIGN.md, pretty-printed and deterministic."""

from __future__ import annotations

import json
import math
from typing import Any

from prodready.model import Severity
from prodready.report.plan import Report


def render(report: Report) -> str:
    data = report.to_json()
    data["findings"].sort(key=_finding_order)
    data["suppressed"].sort(key=lambda s: (s["check"], s["key"]))
    return json.dumps(json_safe(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _finding_order(finding: dict[str, Any]) -> tuple[int, str, str, str]:
    """Finding.sort_key (severity, check, object), with the unique key as the tie-break."""
    severity = Severity.parse(finding["severity"])
    return (-int(severity), finding["check"], finding["object"], finding["key"])


def json_safe(value: Any) -> Any:
    """Strict JSON: NaN/Infinity become null, unknown types their string form."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
