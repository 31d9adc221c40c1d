"""Renderers: each format module exposes `render(report) -> str`; none of them decides anything."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from prodready.errors import UsageError
from prodready.report.plan import Report

# format name -> (module under prodready.report, file written by --out)
FORMATS: dict[str, tuple[str, str]] = {
    "json": ("json_report", "report.json"),
    "md": ("markdown", "PLAN.md"),
    "html": ("html", "report.html"),
    "sarif": ("sarif", "report.sarif"),
    "terminal": ("terminal", "report.txt"),
}
FILE_FORMATS = ("json", "md", "html", "sarif")


def render(report: Report, fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    module = importlib.import_module(f"prodready.report.{FORMATS[fmt][0]}")
    return str(module.render(report))


def write_reports(
    report: Report, out_dir: Path, formats: Iterable[str] = FILE_FORMATS
) -> list[Path]:
    """Write one file per format into `out_dir` and return their paths."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out_dir}: {exc.strerror}") from None
    written = []
    for fmt in formats:
        path = out_dir / FORMATS[fmt][1]
        path.write_text(render(report, fmt), encoding="utf-8")
        written.append(path)
    return written
