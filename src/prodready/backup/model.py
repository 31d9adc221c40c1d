"""Manifests and drill records: plain, JSON-serialisable data written beside each dump."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prodready.errors import UsageError

MANIFEST_SUFFIX = ".manifest.json"
DRILL_SUFFIX = ".drill.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a dump (a custom-format dump is one file; a directory dump many)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TableCount:
    """Rows of one table when the dump was taken; `estimated` when from reltuples."""

    schema: str
    name: str
    rows: int
    estimated: bool

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SourceIdentity:
    """What tells one database apart from another, so a drill never restores onto its source."""

    system_identifier: str | None
    database: str
    database_oid: int
    postmaster_start: str


@dataclass(frozen=True)
class Manifest:
    """Everything a drill needs to prove a dump is whole and restores to the same database."""

    dump: str
    format: str
    started_at: str
    finished_at: str
    duration_s: float
    server_version: str
    server_version_num: int
    pg_dump_version: str
    source: SourceIdentity
    schema_fingerprint: str
    files: list[FileEntry]
    tables: list[TableCount]
    manifest_format: int = MANIFEST_FORMAT
    schema_objects: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, origin: str) -> Manifest:
        try:
            return cls(
                **{
                    **data,
                    "source": SourceIdentity(**data["source"]),
                    "files": [FileEntry(**f) for f in data["files"]],
                    "tables": [TableCount(**t) for t in data["tables"]],
                }
            )
        except (TypeError, KeyError) as exc:
            raise UsageError(f"{origin}: not a prodready backup manifest ({exc})") from None


@dataclass(frozen=True)
class DrillStep:
    """One comparison or smoke test of a drill, with what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class DrillRecord:
    """The outcome of one restore drill; `prodready audit --backups DIR` reads these."""

    dump: str
    ok: bool
    started_at: str
    finished_at: str
    dump_finished_at: str
    rto_s: float
    rpo_s: float
    scratch: str
    steps: list[DrillStep]
    kind: str = "drill"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, origin: str) -> DrillRecord:
        try:
            return cls(**{**data, "steps": [DrillStep(**s) for s in data["steps"]]})
        except (TypeError, KeyError) as exc:
            raise UsageError(f"{origin}: not a prodready drill record ({exc})") from None


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + MANIFEST_SUFFIX)


def drill_path(dump: Path) -> Path:
    return dump.with_name(dump.name + DRILL_SUFFIX)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write then rename, so a reader never sees half a manifest."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable {what} ({exc})") from None


def load_manifest(dump: Path) -> Manifest:
    path = manifest_path(dump)
    return Manifest.from_json(read_json(path, "backup manifest"), str(path))
