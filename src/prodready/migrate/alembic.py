"""Migrations as an Alembic revision chain, for teams whose schema changes go through Alembic.

`write_alembic(dir, migrations)` writes one revision file per migration into `dir`, which is
the Alembic *versions* directory itself (users point `--out` at `alembic/versions`). The files
import `alembic` and `sqlalchemy`; prodready only writes them as text and needs neither.
The first revision revises the directory's single head, as `alembic revision` does, unless
`down_revision` names the parent (`--alembic-down-revision`).

Each file runs its SQL verbatim through `op.execute(sa.DDL(...))`: unlike a plain string
(which Alembic turns into `sa.text()`), a DDL element parses no `:name` bind parameters, and
`%` is doubled at run time because DDL formats the statement with `%`. Statements that refuse
a transaction block (CREATE/DROP INDEX CONCURRENTLY, ALTER SYSTEM) run inside
`op.get_context().autocommit_block()`, which first commits the migrations run before it.
A review-required migration raises in `upgrade()` until a person deletes that line.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from pglast import ast as pg_ast
from pglast import parse_sql
from pglast.enums import ObjectType
from pglast.parser import ParseError

from prodready.errors import UsageError
from prodready.migrate.model import Migration
from prodready.sqlgen import split_statements

REVISION_PREFIX = "prodready"
_HASH_CHARS = 12  # "prodready_0001_" + 12 = 27 chars, within alembic_version's varchar(32)
_SAFE_SLUG = re.compile(r"^[a-z0-9_]+$")
_INDENT = "    "
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]*$")


def write_alembic(
    directory: Path, migrations: list[Migration], down_revision: str | None = None
) -> list[Path]:
    """Write `NNNN_slug.py` revision files into the versions directory `directory`.

    The first revision revises `down_revision`, by default the directory's current head (a new
    base when it holds no revisions); each next one revises the previous. Nothing is written
    when a file already exists or the parent is ambiguous.
    """
    planned: list[tuple[Path, str]] = []
    parent = resolve_down_revision(directory, down_revision)
    # numbering continues after prodready's earlier revisions in the same folder
    start = _last_prodready_number(directory)
    for offset, original in enumerate(migrations, start=1):
        migration = replace(original, number=start + offset)
        revision = revision_id(migration, parent)
        path = directory / f"{migration.name}.py"
        if path.exists() or any(path == seen for seen, _ in planned):
            raise UsageError(f"{path} already exists; choose another --out directory")
        planned.append((path, render_revision(migration, revision, parent)))
        parent = revision
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in planned:
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in planned]


def revision_id(migration: Migration, down_revision: str | None) -> str:
    """A deterministic id: the same change on the same parent always gets the same revision."""
    digest = hashlib.sha256()
    for part in (
        down_revision or "",
        migration.name,
        migration.up_sql,
        migration.down_sql,
        repr((migration.transactional, migration.down_transactional, migration.review_required)),
    ):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return f"{REVISION_PREFIX}_{migration.number:04d}_{digest.hexdigest()[:_HASH_CHARS]}"


def render_revision(migration: Migration, revision: str, down_revision: str | None) -> str:
    """The full text of one Alembic revision file."""
    if not _SAFE_SLUG.match(migration.slug):  # it names the file and appears in code
        raise UsageError(f"{migration.name!r}: a migration slug is lowercase a-z, 0-9 and _")
    up, down = _statements(migration, migration.up_sql), _statements(migration, migration.down_sql)
    down_transactional = (
        migration.transactional
        if migration.down_transactional is None
        else migration.down_transactional
    )
    parts = [
        py_string(_docstring(migration, revision, down_revision)),
        "",
        "import sqlalchemy as sa",
        "from alembic import op",
        "",
        f"revision = {_py_value(revision)}",
        f"down_revision = {_py_value(down_revision)}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
        "def _execute(statement: str) -> None:",
        f"{_INDENT}# sa.DDL runs the SQL as written: no :name bind parameters; % doubled for DDL's",
        f"{_INDENT}# own %-formatting. A plain string would go through sa.text() and its parsing.",
        f'{_INDENT}op.execute(sa.DDL(statement.replace("%", "%%")))',
        "",
        "",
        "def upgrade() -> None:",
        *_review_guard(migration),
        *_body(up, migration.transactional, cleanup=_failed_build_cleanup(up, down)),
        "",
        "",
        "def downgrade() -> None:",
        *_body(down, down_transactional, cleanup=_failed_build_cleanup(down, up)),
    ]
    return "\n".join(parts) + "\n"


def _statements(migration: Migration, script: str) -> list[str]:
    try:
        return split_statements(script)
    except ParseError as exc:
        raise UsageError(f"{migration.name}: its SQL does not parse ({exc})") from None


def py_string(text: str) -> str:
    """A Python string literal for `text`, triple-quoted so SQL stays readable; exact round trip.

    Backslashes, control characters and line separators are escaped; of the quote character
    used as delimiter only runs of two or more and a final one are escaped, so a lone `"` of
    a quoted identifier reads as itself.
    """
    quote = '"' if _escapes_needed(text, '"') <= _escapes_needed(text, "'") else "'"
    out: list[str] = []
    for i, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char == quote and _in_quote_run(text, i, quote):
            out.append("\\" + char)
        elif char == "\n" or char == "\t" or char.isprintable():
            out.append(char)
        else:
            out.append(_escape_code(char))
    literal = quote * 3 + "".join(out) + quote * 3
    if ast.literal_eval(literal) != text:  # a safety net; falls back to the always-exact repr
        return repr(text)
    return literal


def _py_value(value: str | None) -> str:
    """A short literal in the double quotes ruff and Alembic's own template use."""
    if value is not None and _PLAIN.match(value):
        return f'"{value}"'
    return repr(value)


def _escapes_needed(text: str, quote: str) -> int:
    return sum(1 for i, char in enumerate(text) if char == quote and _in_quote_run(text, i, quote))


def _in_quote_run(text: str, i: int, quote: str) -> bool:
    """True when the quote at `i` could close or touch the delimiter: adjacent to one, or last."""
    last = i == len(text) - 1
    return last or text[i + 1] == quote or (i > 0 and text[i - 1] == quote)


def _escape_code(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _docstring(migration: Migration, revision: str, down_revision: str | None) -> str:
    header = [" ".join(line.split()) for line in migration.header] or ["prodready migration"]
    lines = [f"{migration.name}: {header[0]}", "", *header[1:]]
    if len(header) > 1:
        lines.append("")
    lines += [
        f"Revision ID: {revision}",
        f"Revises: {down_revision or '(base)'}",
        "Generated by `prodready fix --format alembic`.",
    ]
    if not migration.transactional:
        lines += [
            "Runs outside a transaction (autocommit_block), which commits the migrations run",
            "before it; transaction_per_migration=True in env.py keeps each revision atomic.",
        ]
    if migration.review_required:
        lines.append("REVIEW REQUIRED: read the change, then delete the raise in upgrade().")
    return "\n".join(lines)


def _review_guard(migration: Migration) -> list[str]:
    if not migration.review_required:
        return []
    return [
        f"{_INDENT}# " + "!" * 72,
        f"{_INDENT}# REVIEW REQUIRED: a person must read this change before it runs (it can",
        f"{_INDENT}# rewrite a table under a long lock). Once reviewed, delete the raise below.",
        f"{_INDENT}# " + "!" * 72,
        f'{_INDENT}raise RuntimeError("review {migration.name} by hand, then delete this line")',
    ]


def _body(statements: list[str], transactional: bool, cleanup: list[str] | None) -> list[str]:
    calls = [f"_execute({py_string(statement)})" for statement in statements]
    if not calls:
        return [f"{_INDENT}pass"]
    if transactional:
        return [_INDENT + call for call in calls]
    lines = [
        f"{_INDENT}# CONCURRENTLY and ALTER SYSTEM refuse a transaction block: each statement",
        f"{_INDENT}# commits on its own.",
        f"{_INDENT}with op.get_context().autocommit_block():",
    ]
    if not cleanup:
        return lines + [_INDENT * 2 + call for call in calls]
    return [
        *lines,
        f"{_INDENT * 2}try:",
        *(_INDENT * 3 + call for call in calls),
        f"{_INDENT * 2}except Exception:",
        f"{_INDENT * 3}# A failed CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS",
        f"{_INDENT * 3}# would keep on the next run: drop it before reporting the failure.",
        *(_INDENT * 3 + f"_execute({py_string(statement)})" for statement in cleanup),
        f"{_INDENT * 3}raise",
    ]


def _failed_build_cleanup(statements: list[str], undo: list[str]) -> list[str] | None:
    """`undo` when `statements` only build indexes concurrently and `undo` only drops indexes."""
    if not statements or not undo:
        return None
    if all(_is_concurrent_build(s) for s in statements) and all(_is_index_drop(s) for s in undo):
        return undo
    return None


def _is_concurrent_build(statement: str) -> bool:
    node = parse_sql(statement)[0].stmt
    return isinstance(node, pg_ast.IndexStmt) and bool(node.concurrent)


def _is_index_drop(statement: str) -> bool:
    node = parse_sql(statement)[0].stmt
    return (
        isinstance(node, pg_ast.DropStmt)
        and node.removeType == ObjectType.OBJECT_INDEX
        and bool(node.missing_ok)
    )


def resolve_down_revision(directory: Path, down_revision: str | None) -> str | None:
    """The revision the chain attaches to: the one given, else the directory's single head.

    Like `alembic revision`, a new chain goes on top of the existing history; a directory with
    several heads, or a file whose revision cannot be read, needs an explicit choice.
    """
    existing, unreadable = _scan(directory)
    parents = {parent for revises in existing.values() for parent in revises}
    heads = sorted(rev for rev in existing if rev not in parents)
    if down_revision is not None:
        if existing and not unreadable and down_revision not in existing:
            raise UsageError(f"down revision {down_revision!r} is not a revision in {directory}")
        if down_revision in existing and down_revision not in heads:
            raise UsageError(
                f"down revision {down_revision!r} is not a head (heads: {', '.join(heads)}); "
                "attaching there would branch the history"
            )
        return down_revision
    if unreadable:
        raise UsageError(
            f"cannot read the revision of {unreadable[0]} in {directory}; "
            "name the parent with --alembic-down-revision"
        )
    if len(heads) > 1:
        raise UsageError(
            f"{directory} has {len(heads)} heads ({', '.join(heads)}); "
            "name the parent with --alembic-down-revision"
        )
    return heads[0] if heads else None


def _last_prodready_number(directory: Path) -> int:
    numbers = [
        int(match[1])
        for path in (directory.glob("*.py") if directory.is_dir() else [])
        if (match := re.match(r"^(\d{4,})_[a-z0-9_]+\.py$", path.name))
    ]
    return max(numbers, default=0)


def _scan(directory: Path) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Revision id -> the revisions it revises, read without importing; and unreadable files."""
    found: dict[str, tuple[str, ...]] = {}
    unreadable: list[str] = []
    if not directory.is_dir():
        return found, unreadable
    for path in sorted(directory.glob("*.py")):
        if path.name == "__init__.py":
            continue
        values = _module_constants(path, ("revision", "down_revision"))
        revision = values.get("revision")
        if isinstance(revision, str):
            found[revision] = _as_revisions(values.get("down_revision"))
        else:
            unreadable.append(path.name)
    return found, unreadable


def _module_constants(path: Path, names: Iterable[str]) -> dict[str, object]:
    """Top-level `name = <literal>` assignments of a Python file; unreadable files give {}."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return {}
    wanted, values = set(names), {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in wanted:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return values


def _as_revisions(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(item for item in value if isinstance(item, str))
    return ()
