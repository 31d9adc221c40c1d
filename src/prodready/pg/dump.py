"""pg_dump as prodready uses it: the schema of a database, comparable across runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prodready.pg.cluster import find_bindir

JOURNAL_SCHEMA = "prodready"


def schema_dump(
    dsn: str, *, exclude_schemas: tuple[str, ...] = (JOURNAL_SCHEMA,), bindir: Path | None = None
) -> str:
    """`pg_dump --schema-only`, without prodready's journal and without per-run random lines."""
    command = [str((bindir or find_bindir()) / "pg_dump"), "--schema-only"]
    command += [f"--exclude-schema={schema}" for schema in exclude_schemas]
    out = subprocess.run(
        [*command, "-d", dsn], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    # pg_dump 13.22 / 15.14 and later bracket the script with \restrict <random key>
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )
