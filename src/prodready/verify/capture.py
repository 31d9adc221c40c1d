"""Capture: the workload's statements, bound once with realistic values, measured N times.

The workload comes from the advisor's intake (pg_stat_statements, SQL files, logs) and its
`$n` values from the advisor's binder (what the application sent, else pg_stats); the
bound SQL is stored in the baseline so the replay runs exactly the same statements.

A SQL file may say, above a statement, `-- role: R` (the advisor reads it), `-- name: X`
and `-- set: setting = value` (one or more; applied with set_config(..., true) after the
role switch, e.g. `-- set: request.jwt.claim.sub = <uuid>` for auth.uid()). Statements from
pg_stat_statements carry their role but no such settings: PostgreSQL does not record them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from pglast.parser import ParseError, parse_sql_json

from prodready import __version__
from prodready.advisor.model import BoundQuery, WorkloadQuery
from prodready.advisor.params import bind
from prodready.advisor.workload import load_workload, split_with_comments
from prodready.errors import UsageError
from prodready.verify.model import (
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    Baseline,
    Captured,
    Statement,
    Unrunnable,
    VerifyOptions,
)
from prodready.verify.runner import Runner, reads_first

Progress = Callable[[str], None]

_WRITE_NODES = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE",
                "MergeStmt": "MERGE"}  # fmt: skip
# Built-in volatile functions with effects a rolled-back transaction does not hide, or that
# a read-only transaction refuses. Other built-in volatile functions (random(),
# clock_timestamp(), gen_random_uuid()) only read.
_BUILTIN_EFFECTS = frozenset(
    {
        "nextval", "setval", "pg_notify", "pg_advisory_lock", "pg_advisory_lock_shared",
        "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_advisory_xact_lock",
        "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
        "pg_try_advisory_xact_lock_shared", "lo_create", "lo_creat", "lo_import", "lo_unlink",
        "lo_from_bytea", "lo_put", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_stat_reset",
    }
)  # fmt: skip
_SET = re.compile(r"--\s*(set|name)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_SETTING = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*)\s*=\s*(.*)\Z")
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


def capture_baseline(
    dsn: str,
    workload_sources: Sequence[str],
    options: VerifyOptions | None = None,
    *,
    progress: Progress | None = None,
) -> Baseline:
    """Measure the workload named by `workload_sources` (as `load_workload` reads them)."""
    options = options or VerifyOptions()
    with Runner(dsn, options) as runner:
        prepared = prepare_statements(runner.reader, workload_sources, options.limit)
        return _capture(runner, prepared, options, progress)


def capture_statements(
    dsn: str,
    statements: Sequence[Statement],
    options: VerifyOptions | None = None,
    *,
    progress: Progress | None = None,
) -> Baseline:
    """Measure statements built by the caller (e.g. the demo's API queries with their JWTs)."""
    options = options or VerifyOptions()
    ids = [s.id for s in statements]
    if len(set(ids)) != len(ids):
        raise UsageError("statement ids must be unique")
    with Runner(dsn, options) as runner:
        return _capture(runner, Prepared(list(statements), [], []), options, progress)


@dataclass
class Prepared:
    """The workload made runnable: statements, those that cannot run, and notes."""

    statements: list[Statement]
    unrunnable: list[Unrunnable]
    notes: list[str]


def _capture(
    runner: Runner, prepared: Prepared, options: VerifyOptions, progress: Progress | None
) -> Baseline:
    runs = options.runs or DEFAULT_RUNS
    warmup = DEFAULT_WARMUP if options.warmup is None else options.warmup
    found: dict[str, Captured] = {}
    for number, statement in enumerate(reads_first(prepared.statements), 1):
        if progress is not None:
            progress(f"measuring {number}/{len(prepared.statements)}: {statement.label}")
        found[statement.id] = runner.measure(statement, runs, warmup)
    captured = [found[s.id] for s in prepared.statements]
    database, server_version = runner.target()
    return Baseline(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database=database,
        server_version=server_version,
        runs=runs,
        warmup=warmup,
        statement_timeout_ms=options.statement_timeout_ms,
        allow_writes=options.allow_writes,
        statements=tuple(captured),
        unrunnable=tuple(prepared.unrunnable),
        notes=tuple(prepared.notes),
        version=__version__,
    )


# -- the workload, made runnable -------------------------------------------------------------


def prepare_statements(
    conn: psycopg.Connection, sources: Sequence[str], limit: int | None = None
) -> Prepared:
    """Read the workload, keep the heaviest `limit`, bind `$n`, classify reads and writes."""
    queries = load_workload(list(sources), conn)
    notes: list[str] = []
    if limit is not None and len(queries) > limit:
        notes.append(f"{len(queries) - limit} lighter statement(s) left out (limit {limit})")
        queries = queries[:limit]
    extras = _annotations([s for s in sources if s.lower().endswith(".sql")])
    bound, skipped = bind(queries, conn)
    unrunnable = [Unrunnable(s.query, s.reason) for s in skipped]
    functions = _function_catalog(conn, bound)
    statements: list[Statement] = []
    for item in bound:
        if item.method == "generic":
            reason = "no realistic value for its parameters, so it cannot run"
            unrunnable.append(Unrunnable(item.query.text, f"{reason} ({item.note})"))
            continue
        name, settings = extras.get(item.query.text, (None, ()))
        statements.append(_statement(item, name, settings, functions))
    return Prepared(_unique_ids(statements), unrunnable, notes)


def _statement(
    item: BoundQuery,
    name: str | None,
    settings: tuple[tuple[str, str], ...],
    functions: dict[str, list[_Function]],
) -> Statement:
    query: WorkloadQuery = item.query
    return Statement(
        id=query.fingerprint,
        query=query.text,
        sql=item.sql,
        calls=query.calls,
        role=query.role,
        settings=settings,
        writes=write_reason(item.sql, functions),
        name=name,
        bind_method=item.method,
        bind_note=item.note,
    )


def _unique_ids(statements: list[Statement]) -> list[Statement]:
    """Fingerprints are unique per workload; a merged source could still repeat one."""
    seen: dict[str, int] = {}
    unique = []
    for statement in statements:
        count = seen.get(statement.id, 0)
        seen[statement.id] = count + 1
        if count:
            statement = replace(statement, id=f"{statement.id}-{count + 1}")
        unique.append(statement)
    return unique


# -- SQL file annotations verify reads ---------------------------------------------------------


def _annotations(paths: Iterable[str]) -> dict[str, tuple[str | None, tuple[tuple[str, str], ...]]]:
    """Statement text -> (`-- name:`, `-- set:` pairs), for the statements of SQL files."""
    found: dict[str, tuple[str | None, tuple[tuple[str, str], ...]]] = {}
    for spec in paths:
        path = Path(spec)
        text = path.read_text(encoding="utf-8")  # load_workload has read it: it exists
        try:
            pieces = list(split_with_comments(text))
        except ParseError:
            continue  # load_workload already refused it
        for statement, comments in pieces:
            found.setdefault(statement, parse_annotations(path, text, comments))
    return found


def parse_annotations(
    path: Path, text: str, comments: list[tuple[int, str]]
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The `-- name:` and `-- set: setting = value` lines among a statement's comments."""
    name: str | None = None
    settings: list[tuple[str, str]] = []
    for offset, comment in comments:
        match = _SET.match(comment)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "name":
            name = value or None
            continue
        setting = _SETTING.match(value)
        if setting is None:
            line = text.count("\n", 0, offset) + 1
            raise UsageError(f"{path}:{line}: expected '-- set: setting = value', not {value!r}")
        settings.append((setting.group(1), _unquote(setting.group(2).strip())))
    return name, tuple(settings)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


# -- reads and writes ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    schema: str
    volatile: bool
    on_path: bool
    from_extension: bool


_FUNCTIONS_SQL = """
SELECT /* prodready */ p.proname, n.nspname, p.provolatile = 'v',
       n.nspname = ANY (current_schemas(true)),
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
               AND d.objid = p.oid AND d.deptype = 'e')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = ANY (%s)
"""


def _function_catalog(
    conn: psycopg.Connection, bound: Iterable[BoundQuery]
) -> dict[str, list[_Function]]:
    names = sorted({name for item in bound for _, name in called_functions(item.sql)})
    if not names:
        return {}
    found: dict[str, list[_Function]] = {}
    for proname, schema, volatile, on_path, extension in conn.execute(
        _FUNCTIONS_SQL, (names,)
    ).fetchall():
        found.setdefault(proname, []).append(
            _Function(schema, bool(volatile), bool(on_path), bool(extension))
        )
    return found


def write_reason(text: str, functions: dict[str, list[_Function]]) -> str | None:
    """Why the statement writes (or may write), or None for a read.

    A write is INSERT/UPDATE/DELETE/MERGE (also inside WITH), SELECT ... FOR UPDATE/SHARE,
    or a call to a volatile function of the application (it may write, like a view
    counter) or to a built-in with effects (nextval, advisory locks...).
    """
    nodes = _nodes(text)
    kinds = list(dict.fromkeys(_WRITE_NODES[key] for key, _ in nodes if key in _WRITE_NODES))
    if kinds:
        return f"{'/'.join(kinds)} statement"
    if any(key == "lockingClause" and value for key, value in nodes):
        return "locks rows with FOR UPDATE/SHARE"
    for schema, name in _calls(nodes):
        if _has_effects(schema, name, functions.get(name, [])):
            shown = f"{schema}.{name}" if schema else name
            return f"calls volatile function {shown}()"
    return None


def called_functions(text: str) -> list[tuple[str | None, str]]:
    """(schema or None, name) of every function the statement calls, in order."""
    return _calls(_nodes(text))


def _calls(nodes: list[tuple[str, Any]]) -> list[tuple[str | None, str]]:
    calls = []
    for key, value in nodes:
        if key == "FuncCall" and isinstance(value, dict):
            parts = [p for p in (_sval(n) for n in value.get("funcname", [])) if p is not None]
            if parts:
                calls.append((parts[-2] if len(parts) > 1 else None, parts[-1]))
    return list(dict.fromkeys(calls))


def _has_effects(schema: str | None, name: str, candidates: list[_Function]) -> bool:
    if schema is not None:
        candidates = [f for f in candidates if f.schema == schema]
    else:
        candidates = [f for f in candidates if f.on_path]
    for function in candidates:
        if function.schema in _SYSTEM_SCHEMAS:
            if name in _BUILTIN_EFFECTS:
                return True
        elif function.volatile and not function.from_extension:
            return True
    return False


def _nodes(text: str) -> list[tuple[str, Any]]:
    """Every (key, value) pair of the statement's parse tree, depth first; [] if no parse."""
    try:
        tree = json.loads(parse_sql_json(text))
    except ParseError:
        return []  # bind planned it, so this does not happen; a read-only run stays safe
    found: list[tuple[str, Any]] = []
    _collect(tree, found)
    return found


def _collect(node: Any, found: list[tuple[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((key, value))
            _collect(value, found)
    elif isinstance(node, list):
        for item in node:
            _collect(item, found)


def _sval(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("String"), dict):
        value = node["String"].get("sval", node["String"].get("str"))
        return str(value) if value is not None else None
    return None
