"""Find pg_dump/pg_restore at least as new as the server: an older pg_dump refuses to run."""

from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from prodready.errors import TargetError


@dataclass(frozen=True)
class ClientTools:
    """A directory holding pg_dump and pg_restore of one major version."""

    bindir: Path
    major: int
    version: str

    @property
    def pg_dump(self) -> str:
        return str(self.bindir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bindir / "pg_restore")


def candidate_dirs() -> list[Path]:
    """PATH first (what the user chose), then Debian's side-by-side versions."""
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    dirs += [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    seen: dict[Path, None] = {}
    for d in dirs:
        if (d / "pg_dump").exists() and (d / "pg_restore").exists():
            seen.setdefault(d.resolve(), None)
    return list(seen)


def tool_version(executable: str) -> str | None:
    """`pg_dump (PostgreSQL) 15.14 (Debian ...)` -> `15.14`."""
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s+(\d+(?:\.\d+)?)", out)
    return match.group(1) if match else None


def find_client_tools(server_version_num: int, dirs: list[Path] | None = None) -> ClientTools:
    """The oldest client whose major is >= the server's (closest match); else a TargetError."""
    server_major = server_version_num // 10000
    found: list[ClientTools] = []
    for bindir in candidate_dirs() if dirs is None else dirs:
        version = tool_version(str(bindir / "pg_dump"))
        if version is None:
            continue
        found.append(ClientTools(bindir, int(version.split(".")[0]), version))
    usable = sorted((t for t in found if t.major >= server_major), key=lambda t: t.major)
    if usable:
        return usable[0]
    if found:
        have = ", ".join(sorted({f"{t.version} ({t.bindir})" for t in found}))
        raise TargetError(
            f"the server runs PostgreSQL {server_major} but only older pg_dump clients exist "
            f"({have}); install postgresql-client-{server_major} or newer"
        )
    raise TargetError(
        "no pg_dump/pg_restore found on PATH or in /usr/lib/postgresql/*/bin "
        f"(install postgresql-client-{server_major})"
    )
