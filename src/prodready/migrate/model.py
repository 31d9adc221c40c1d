"""A migration as prodready writes, lints and applies it: numbered up/down SQL files.

A migration directory holds pairs of files, `NNNN_slug.up.sql` and `NNNN_slug.down.sql`.
Each file starts with `--` comment lines: free text for people (the finding, its evidence,
the expected effect) and machine directives of the form `-- prodready:key=value`:

- `-- prodready:transactional=false`: run each statement on its own, outside a transaction
  (CREATE/DROP INDEX CONCURRENTLY, ALTER SYSTEM). Otherwise the whole file is one transaction.
- `-- prodready:review-required`: a person must read the change first; `apply` refuses the
  migration while this line is present (delete it once reviewed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from prodready.errors import UsageError

DIRECTIVE_PREFIX = "-- prodready:"
REVIEW_DIRECTIVE = "review-required"
_FILE_NAME = re.compile(r"^(?P<number>\d{4,})_(?P<slug>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")
SLUG_MAX = 60


@dataclass(frozen=True)
class Migration:
    """One change with its undo; `up_sql`/`down_sql` are statements separated by `;\\n`."""

    number: int
    slug: str
    up_sql: str
    down_sql: str
    transactional: bool = True
    review_required: bool = False
    header: tuple[str, ...] = ()
    down_transactional: bool | None = None  # None: same as the up

    @property
    def name(self) -> str:
        return f"{self.number:04d}_{self.slug}"

    def file_text(self, direction: str) -> str:
        """The file's full text: header comments, directives, then the SQL."""
        up = direction == "up"
        transactional = (
            self.transactional if up or self.down_transactional is None else self.down_transactional
        )
        header = [" ".join(line.split()) for line in self.header] or ["prodready migration"]
        lines = [
            f"-- {self.name} ({direction}): {line}" if i == 0 else f"-- {line}"
            for i, line in enumerate(header)
        ]
        if not up:
            lines.append("-- Undoes the matching .up.sql.")
        if not transactional:
            lines.append(f"{DIRECTIVE_PREFIX}transactional=false")
        if self.review_required and up:
            lines.append(f"{DIRECTIVE_PREFIX}{REVIEW_DIRECTIVE}")
        body = (self.up_sql if up else self.down_sql).strip().rstrip(";")
        return "\n".join(lines) + "\n\n" + body + ";\n"


@dataclass(frozen=True)
class MigrationFile:
    """A migration read back from disk, ready to apply or roll back."""

    number: int
    name: str
    up_path: Path
    down_path: Path
    up_sql: str
    down_sql: str
    up_transactional: bool
    down_transactional: bool
    review_required: bool
    checksum: str
    directives: dict[str, str] = field(default_factory=dict)


def slugify(*parts: str) -> str:
    """A file-name-safe slug: lowercase ASCII words joined by underscores, bounded length."""
    text = "_".join(parts).lower()
    slug = _SLUG_UNSAFE.sub("_", text).strip("_")
    return slug[:SLUG_MAX].rstrip("_") or "change"


def directives_of(text: str) -> dict[str, str]:
    """The `-- prodready:key[=value]` lines of a file's leading comment block."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        if stripped.startswith(DIRECTIVE_PREFIX):
            key, _, value = stripped[len(DIRECTIVE_PREFIX) :].partition("=")
            found[key.strip()] = value.strip()
    return found


def checksum(up_text: bytes, down_text: bytes) -> str:
    """sha256 over both files, so an edited rollback is caught as surely as an edited change."""
    digest = hashlib.sha256()
    digest.update(up_text)
    digest.update(b"\0")
    digest.update(down_text)
    return digest.hexdigest()


def write_migrations(directory: Path, migrations: list[Migration]) -> list[Path]:
    """Write each migration's up and down files after the directory's existing ones.

    Numbers continue from the last migration already there, so `fix` can be run again
    after an `apply`. Nothing is written if any target file exists.
    """
    start = len(read_migrations(directory)) if directory.is_dir() else 0
    planned = [replace(m, number=start + i) for i, m in enumerate(migrations, start=1)]
    files = [
        (directory / f"{m.name}.{direction}.sql", m.file_text(direction))
        for m in planned
        for direction in ("up", "down")
    ]
    for path, _ in files:
        if path.exists():
            raise UsageError(f"{path} already exists")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in files:
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in files]


def read_migrations(directory: Path) -> list[MigrationFile]:
    """The directory's migrations in order; a missing half, a gap or a stray name is an error."""
    if not directory.is_dir():
        raise UsageError(f"migration directory {directory} does not exist")
    halves: dict[int, dict[str, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.iterdir()):
        if not path.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(path.name)
        if not match:
            raise UsageError(
                f"{path.name}: migration files are named NNNN_name.up.sql / NNNN_name.down.sql"
            )
        number = int(match["number"])
        name = f"{match['number']}_{match['slug']}"
        if names.setdefault(number, name) != name:
            raise UsageError(f"two migrations are numbered {number:04d}: {names[number]}, {name}")
        halves.setdefault(number, {})[match["direction"]] = path
    migrations = []
    for expected, number in enumerate(sorted(halves), start=1):
        if number != expected:
            raise UsageError(
                f"migrations are out of order: expected {expected:04d}, found {names[number]}"
            )
        pair = halves[number]
        for direction in ("up", "down"):
            if direction not in pair:
                raise UsageError(f"{names[number]} has no .{direction}.sql file")
        migrations.append(_read_pair(number, names[number], pair["up"], pair["down"]))
    return migrations


def _read_pair(number: int, name: str, up_path: Path, down_path: Path) -> MigrationFile:
    up_bytes, down_bytes = up_path.read_bytes(), down_path.read_bytes()
    try:
        up_text, down_text = up_bytes.decode("utf-8"), down_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text ({exc.reason})") from None
    up_directives, down_directives = directives_of(up_text), directives_of(down_text)
    return MigrationFile(
        number=number,
        name=name,
        up_path=up_path,
        down_path=down_path,
        up_sql=up_text,
        down_sql=down_text,
        up_transactional=up_directives.get("transactional", "true") != "false",
        down_transactional=down_directives.get("transactional", "true") != "false",
        review_required=REVIEW_DIRECTIVE in up_directives,
        checksum=checksum(up_bytes, down_bytes),
        directives=up_directives,
    )
