"""The baseline file: JSON written by `--save`, read back (and validated) by `--baseline`."""

from __future__ import annotations

import json
from pathlib import Path

from prodready.errors import UsageError
from prodready.report.json_report import dumps
from prodready.verify.model import Baseline


def save_baseline(baseline: Baseline, path: Path | str) -> Path:
    """Write the baseline as JSON; an unwritable path is a one-line usage error."""
    path = Path(path)
    try:
        path.write_text(dumps(baseline.to_json(), pretty=True), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
    return path


def load_baseline(path: Path | str) -> Baseline:
    """Read a baseline file; missing, unreadable, malformed or foreign files raise UsageError."""
    path = Path(path)
    if not path.is_file():
        what = "not a file" if path.exists() else "not found"
        raise UsageError(f"baseline file {what}: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a prodready verify baseline (not UTF-8 text)") from None
    except OSError as exc:
        raise UsageError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: not a prodready verify baseline (invalid JSON at line {exc.lineno})"
        ) from None
    try:
        return Baseline.from_json(data)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
