"""Files of a dump: checksums, sizes, removal. A dump is one file or one directory."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from prodready.backup.model import FileEntry

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dump_files(dump: Path) -> list[Path]:
    """Every file of a dump, relative paths sorted so manifests are deterministic."""
    if dump.is_dir():
        return sorted(p for p in dump.rglob("*") if p.is_file())
    return [dump]


def checksum_entries(dump: Path) -> list[FileEntry]:
    entries = []
    for path in dump_files(dump):
        relative = path.name if path == dump else str(path.relative_to(dump))
        entries.append(FileEntry(relative, path.stat().st_size, sha256_file(path)))
    return entries


def checksum_problems(dump: Path, expected: list[FileEntry]) -> list[str]:
    """What differs between the files on disk and the manifest (empty when intact)."""
    if not dump.exists():
        return [f"{dump} does not exist"]
    problems = []
    on_disk = {e.path: e for e in checksum_entries(dump)}
    for entry in expected:
        found = on_disk.pop(entry.path, None)
        if found is None:
            problems.append(f"{entry.path} is missing")
        elif found.size != entry.size:
            problems.append(
                f"{entry.path} is {found.size:,} bytes, the manifest says {entry.size:,}"
            )
        elif found.sha256 != entry.sha256:
            problems.append(f"{entry.path} does not match its sha256 (edited or corrupt)")
    problems += [f"{path} is not in the manifest" for path in sorted(on_disk)]
    return problems


def remove_dump(dump: Path) -> None:
    if dump.is_dir():
        shutil.rmtree(dump)
    elif dump.exists():
        dump.unlink()
