"""report.json: the audit JSON contract of DESIGN.md, pretty-printed and deterministic."""

from __future__ import annotations

import json
import math
from typing import Any

from prodready.model import Severity
from prodready.report.plan import Report

# Above this many findings the output is compact: indented JSON goes through Python's slow
# pure-Python encoder, and nobody reads ten thousand findings in a text editor anyway.
PRETTY_LIMIT = 2000


def render(report: Report) -> str:
    data = report.to_json()
    data["findings"].sort(key=_finding_order)
    data["suppressed"].sort(key=lambda s: (s["check"], s["key"]))
    return dumps(data, pretty=len(data["findings"]) <= PRETTY_LIMIT)


def dumps(data: Any, *, pretty: bool) -> str:
    """Strict JSON text; the recursive clean-up runs only when the fast path refuses."""
    layout: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")}
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, **layout)
    except (ValueError, TypeError):  # NaN/Infinity or a type JSON does not know
        text = json.dumps(json_safe(data), ensure_ascii=False, allow_nan=False, **layout)
    return text + "\n"


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
