"""The source scan as one story: walk and collect, run the checks, apply the baseline."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodready.code.collect import collect
from prodready.code.registry import CodeRun, run_code_checks
from prodready.code.snapshot import CodeSnapshot
from prodready.code.walk import NOTEWORTHY
from prodready.errors import UsageError
from prodready.model import Config


@dataclass
class ScanResult:
    root: str
    snapshot: CodeSnapshot
    run: CodeRun
    elapsed_s: float

    @property
    def files_scanned(self) -> int:
        return len(self.snapshot.files)

    @property
    def notes(self) -> list[str]:
        """Files a person should know were not read (too large, not UTF-8, unreadable...)."""
        return [f"{s.path}: {s.reason}" for s in self.snapshot.skipped if s.reason in NOTEWORTHY]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files_scanned": self.files_scanned,
            "elapsed_s": round(self.elapsed_s, 3),
            "findings": [f.to_json() for f in self.run.findings],
            "suppressed": [
                {"key": s.finding.key, "check": s.finding.check, "reason": s.reason}
                for s in self.run.suppressed
            ],
            "skipped": self.notes,
            "failures": [{"check": c, "error": e} for c, e in self.run.failures],
        }


def scan(
    root: Path,
    *,
    baseline: Path | None = None,
    config: Config | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan `root`: every file's facts, then every code check over them."""
    if not root.exists():
        raise UsageError(f"no such file or directory: {root}")
    ignored = load_baseline(baseline) if baseline is not None else frozenset()
    started = time.perf_counter()
    snapshot = collect(root, workers=workers)
    run = run_code_checks(snapshot, config, baseline=ignored)
    return ScanResult(str(root), snapshot, run, time.perf_counter() - started)


def load_baseline(path: Path) -> frozenset[str]:
    """Fingerprints (and finding keys) to ignore: a JSON list, or {"fingerprints": [...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read baseline {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"baseline {path} is not valid JSON") from None
    if isinstance(data, dict):
        data = [*data.get("fingerprints", []), *data.get("keys", [])]
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise UsageError(
            f'baseline {path} must be a JSON list of fingerprints or {{"fingerprints": [...]}}'
        )
    return frozenset(data)


def baseline_of(result: ScanResult) -> dict[str, Any]:
    """A baseline file that accepts every secret the scan found (by fingerprint)."""
    prints = sorted({f.fingerprint for f in result.run.findings if f.fingerprint})
    return {"fingerprints": prints}
