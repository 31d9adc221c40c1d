"""Migration lint: squawk's rules, plus what only the live database knows (table sizes).

A run, in order: find the .sql files → parse each with pglast (a file PostgreSQL cannot
parse is a usage error naming the file and line) → connect read-only when a DSN is given →
run squawk (the `squawk-cli` dependency) per group of files with the right transaction
assumption and parse its JSON → run prodready's rules statement by statement → merge, sort.

Whether a file runs inside one transaction: `-- prodready:transactional=false|true` decides
when present; otherwise a file named like ours (`NNNN_slug.up.sql`) does, as `prodready
apply` runs it; any other file follows `LintOptions.assume_in_transaction` (Rails and
Django wrap migrations in a transaction by default; plain psql scripts do not).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError
from psycopg import sql
from psycopg.rows import dict_row

from prodready.errors import TargetError, UsageError
from prodready.migrate import lint_rules as rules
from prodready.migrate.model import directives_of
from prodready.pg.connection import connect, describe_target
from prodready.sqlgen import render

LARGE_BYTES = 1024**3  # 1 GB: ~20 s of rewrite at the assumed rate, long for ACCESS EXCLUSIVE
LARGE_ROWS = 10_000_000
WARN_RATIO = 0.1  # a tenth of "large" is still seconds under a lock: a warning
SQUAWK_TIMEOUT_S = 120
SQUAWK_BATCH = 200  # files per squawk call, to stay far below the command-line limit
SQUAWK_DOCS = "https://squawkhq.com/docs/"
INSTALL_SQUAWK = "install it with `pip install squawk-cli` (a prodready dependency)"

# Our migrations are run by `prodready apply`, which sets lock_timeout itself (short, with
# bounded retries and backoff) and statement_timeout (0 by default on purpose: killing a
# long index build wastes it; lock_timeout is what protects the application). A SET in the
# file would override that policy, so squawk's timeout rules do not apply to our files.
OUR_FILE_EXCLUDES = (
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
)
# squawk reports this where our cannot-run-in-transaction rule fires on the same statement
# (ours also knows about the transactional=false directive); one finding is enough.
DUPLICATED_BY_OURS = {"ban-concurrent-index-creation-in-transaction": "cannot-run-in-transaction"}
# Zones with offset 0 and no daylight saving: PostgreSQL 12+ changes timestamp <->
# timestamptz without a rewrite when the session runs in one of them.
UTC_ZONES = frozenset(
    z.lower()
    for base in ("UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Zulu", "Universal", "Greenwich")
    for z in (base, f"Etc/{base}")
)
_OUR_NAME = re.compile(r"^\d{4,}_[a-z0-9_]+\.(up|down)\.sql$")


@dataclass(frozen=True)
class LintOptions:
    """Thresholds and squawk settings; sizes in bytes, rows from pg_class.reltuples."""

    large_bytes: int = LARGE_BYTES
    large_rows: int = LARGE_ROWS
    warn_ratio: float = WARN_RATIO
    assume_in_transaction: bool = False  # for files that are not ours and carry no directive
    pg_version: str | None = None  # for squawk when no database is given, e.g. "15"
    exclude: tuple[str, ...] = ()  # rule ids to skip, squawk's or ours
    squawk: str | None = None  # path to the squawk binary; found next to Python otherwise

    def sizes(self) -> rules.Sizes:
        return rules.Sizes(self.large_bytes, self.large_rows, self.warn_ratio)

    def to_json(self) -> dict[str, Any]:
        return {
            "large_bytes": self.large_bytes,
            "large_rows": self.large_rows,
            "warn_ratio": self.warn_ratio,
            "assume_in_transaction": self.assume_in_transaction,
            "exclude": list(self.exclude),
            "assumed_mb_per_s": {"rewrite": rules.WRITE_MB_S, "scan": rules.SCAN_MB_S},
        }


@dataclass(frozen=True)
class LintIssue:
    """One finding on one statement: 1-based line/column of its start; end_column exclusive."""

    rule: str
    level: str  # error | warning
    path: Path
    line: int
    column: int
    message: str
    help: str
    source: str  # squawk | prodready
    evidence: dict[str, Any] = field(default_factory=dict)
    end_line: int | None = None
    end_column: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "source": self.source,
            "path": self.path.as_posix(),
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "help": self.help,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class LintedFile:
    path: Path
    transactional: bool
    ours: bool
    statements: int


@dataclass(frozen=True)
class LintResult:
    issues: list[LintIssue]
    files: list[LintedFile]
    notes: list[str]
    options: LintOptions
    squawk_version: str
    database: str | None = None  # host:port/db, never the DSN
    server_version: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for i in self.issues if i.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for i in self.issues if i.level == "warning")

    @property
    def has_errors(self) -> bool:
        return self.errors > 0


@dataclass(frozen=True)
class Statement:
    node: ast.Node
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class SqlFile:
    path: Path
    statements: list[Statement]
    transactional: bool
    ours: bool


def lint_paths(paths: list[Path], dsn: str | None, options: LintOptions) -> LintResult:
    """Lint every .sql file under `paths`; with a DSN, size each statement's table."""
    texts = {path: read_text(path) for path in find_sql_files(paths)}
    ours_dirs = frozenset(p.parent for p, text in texts.items() if has_our_header(p, text))
    files = [parse_file(path, text, options, ours_dirs) for path, text in texts.items()]
    squawk = find_squawk(options.squawk)
    notes: list[str] = []
    database = server_version = None
    pg_version = options.pg_version
    issues: list[LintIssue] = []
    if dsn is None:
        notes.append("size rules skipped: no database given (--db DSN) to size tables")
        issues += our_issues(files, None, options)
    else:
        with connect(dsn, read_only=True) as conn:
            database = describe_target(dsn)
            server_version = _version(conn.info.server_version)
            pg_version = server_version
            catalog = DbCatalog(conn, notes)
            issues += our_issues(files, catalog, options)
    issues += run_squawk(squawk, files, options, pg_version)
    return LintResult(
        issues=_merge(issues, files),
        files=[LintedFile(f.path, f.transactional, f.ours, len(f.statements)) for f in files],
        notes=notes,
        options=options,
        squawk_version=squawk_version(squawk),
        database=database,
        server_version=server_version,
    )


# --- files ---------------------------------------------------------------------------------


def find_sql_files(paths: list[Path]) -> list[Path]:
    """Files as given, directories searched for *.sql (hidden directories skipped), in order."""
    if not paths:
        raise UsageError("no migration files or directories given")
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist")
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*.sql")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inside:
                raise UsageError(f"{path} holds no .sql files")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path} is not a file or a directory")
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def read_sql_file(path: Path, options: LintOptions) -> SqlFile:
    """One file read and parsed on its own (its directory's other files unseen)."""
    text = read_text(path)
    ours_dirs = frozenset({path.parent}) if has_our_header(path, text) else frozenset()
    return parse_file(path, text, options, ours_dirs)


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text, not an SQL migration") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def parse_file(path: Path, text: str, options: LintOptions, ours_dirs: frozenset[Path]) -> SqlFile:
    """The file's statements with their positions; SQL PostgreSQL cannot parse is refused."""
    try:
        raws = parse_sql(text)
    except ParseError as exc:
        message, location = (
            str(exc.args[0]).splitlines()[0],
            exc.args[1] if len(exc.args) > 1 else None,
        )
        line = _position(text, location)[0] if location is not None else _last_line(text)
        raise UsageError(f"{path}:{line}: not valid SQL ({message})") from None
    ours = is_ours(path, text, ours_dirs)
    statements = [_statement(text, raw.stmt, raw) for raw in raws if raw.stmt is not None]
    return SqlFile(path, statements, _transactional(text, ours, options), ours)


def has_our_header(path: Path, text: str) -> bool:
    """The first line `prodready fix` writes: `-- 0001_slug (up): ...`."""
    match = _OUR_NAME.match(path.name)
    if match is None:
        return False
    name = path.name.removesuffix(f".{match[1]}.sql")
    return text.startswith(f"-- {name} ({match[1]}):")


def is_ours(path: Path, text: str, ours_dirs: frozenset[Path]) -> bool:
    """A prodready migration: our file name, and our header, a directive, or our directory.

    The name alone is not enough: golang-migrate names its files the same way, and runs a
    lone CREATE INDEX CONCURRENTLY outside a transaction.
    """
    if _OUR_NAME.match(path.name) is None:
        return False
    return has_our_header(path, text) or bool(directives_of(text)) or path.parent in ours_dirs


def _transactional(text: str, ours: bool, options: LintOptions) -> bool:
    directive = directives_of(text).get("transactional")
    if directive is not None:
        return directive != "false"
    return True if ours else options.assume_in_transaction


def _statement(text: str, node: ast.Node, raw: ast.RawStmt) -> Statement:
    start = _skip_blanks(text, raw.stmt_location or 0)
    end = len(text) if not raw.stmt_len else (raw.stmt_location or 0) + raw.stmt_len
    end = max(start, len(text[:end].rstrip()) - 1)
    line, column = _position(text, start)
    end_line, end_column = _position(text, end)
    return Statement(node, line, column, end_line, end_column + 1)


def _skip_blanks(text: str, at: int) -> int:
    """The first character of the statement itself, past whitespace and comments."""
    while at < len(text):
        if text[at].isspace():
            at += 1
        elif text.startswith("--", at):
            newline = text.find("\n", at)
            at = len(text) if newline < 0 else newline + 1
        elif text.startswith("/*", at):
            close = text.find("*/", at + 2)
            at = len(text) if close < 0 else close + 2
        else:
            break
    return at


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


def _last_line(text: str) -> int:
    return max(1, len(text.rstrip().splitlines()))


# --- prodready's rules ---------------------------------------------------------------------


def our_issues(
    files: list[SqlFile], catalog: rules.Catalog | None, options: LintOptions
) -> list[LintIssue]:
    """prodready's rules over every statement, in file order so later files see earlier ones."""
    sizes = options.sizes()
    state = rules.RunState()
    issues: list[LintIssue] = []
    for file in files:
        # a down file undoes its up: what it does must not count for later migrations
        file_state = state.fork() if file.path.name.endswith(".down.sql") else state
        ctx = rules.FileContext(transactional=file.transactional, directive_aware=file.ours)
        for stmt in file.statements:
            hits = list(rules.cannot_run_in_transaction(stmt.node, ctx))
            if catalog is not None:
                hits += rules.size_hits(stmt.node, ctx, file_state, catalog, sizes)
            issues += [
                _issue(file.path, stmt, hit) for hit in hits if hit.rule not in options.exclude
            ]
    return issues


def _issue(path: Path, stmt: Statement, hit: rules.Hit) -> LintIssue:
    return LintIssue(
        rule=hit.rule,
        level=hit.level,
        path=path,
        line=stmt.line,
        column=stmt.column,
        message=hit.message,
        help=hit.help,
        source="prodready",
        evidence=hit.evidence,
        end_line=stmt.end_line,
        end_column=stmt.end_column,
    )


def load_sql(name: str) -> str:
    return resources.files("prodready.migrate.sql").joinpath(f"{name}.sql").read_text()


class DbCatalog:
    """Facts read from the live database, one small query each, cached for the run."""

    def __init__(self, conn: psycopg.Connection, notes: list[str]) -> None:
        self.conn = conn
        self.notes = notes
        self._relations: dict[tuple[str | None, str], rules.Relation | None] = {}
        self._columns: dict[tuple[str, str], rules.Column | None] = {}
        self._types: dict[tuple[str, int], rules.TypeTarget | None] = {}
        self._volatility: dict[tuple[str, ...], str | None] = {}
        self._checks: dict[str, frozenset[str]] = {}
        self._utc: bool | None = None

    def relation(self, schema: str | None, name: str) -> rules.Relation | None:
        key = (schema, name)
        if key not in self._relations:
            ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
            label = f"{schema}.{name}" if schema else name
            row = self._one("lint_relation", {"name": render(ident)}, label)
            self._relations[key] = rules.Relation(**row) if row else None
        return self._relations[key]

    def column(self, relation: rules.Relation, column: str) -> rules.Column | None:
        key = (relation.qualified, column)
        if key not in self._columns:
            params = {"table": _regclass(relation), "column": column}
            row = self._one("lint_column", params, relation.qualified)
            self._columns[key] = rules.Column(**row) if row else None
        return self._columns[key]

    def type_target(self, type_name: str, old_type_oid: int) -> rules.TypeTarget | None:
        key = (type_name, old_type_oid)
        if key not in self._types:
            row = self._one("lint_type_target", {"type": type_name, "old": old_type_oid}, type_name)
            self._types[key] = rules.TypeTarget(**row) if row else None
        return self._types[key]

    def volatility(self, function: tuple[str, ...]) -> str | None:
        if function not in self._volatility:
            schema = function[-2] if len(function) > 1 else None
            params = {"schema": schema, "name": function[-1]}
            row = self._one("lint_volatility", params, ".".join(function))
            self._volatility[function] = row["volatility"] if row else None
        return self._volatility[function]

    def not_null_checked(self, relation: rules.Relation) -> frozenset[str]:
        key = relation.qualified
        if key not in self._checks:
            rows = self._all("lint_not_null_checks", {"table": _regclass(relation)}, key)
            cols: set[str] = set()
            for row in rows:
                cols |= rules.check_definition_columns(row["definition"])
            self._checks[key] = frozenset(cols)
        return self._checks[key]

    def utc_session(self) -> bool:
        if self._utc is None:
            row = self._one("lint_timezone", {}, "the session time zone")
            self._utc = bool(row and row["timezone"].lower() in UTC_ZONES)
        return self._utc

    def _one(self, name: str, params: dict[str, Any], about: str) -> dict[str, Any] | None:
        rows = self._all(name, params, about)
        return rows[0] if rows else None

    def _all(self, name: str, params: dict[str, Any], about: str) -> list[dict[str, Any]]:
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                return cur.execute(load_sql(name), params).fetchall()
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            # a table locked by someone else's DDL: say so, and size it as unknown
            self.notes.append(f"could not size {about}: {_first_line(exc)}")
            return []
        except psycopg.errors.InsufficientPrivilege as exc:
            self.notes.append(f"could not read the catalog for {about}: {_first_line(exc)}")
            return []
        except psycopg.OperationalError as exc:
            raise TargetError(
                f"lost the connection while sizing tables: {_first_line(exc)}"
            ) from None


def _regclass(relation: rules.Relation) -> str:
    return render(sql.Identifier(relation.schema, relation.name))


def _version(num: int) -> str:
    return f"{num // 10000}.{num % 10000}"


def _first_line(exc: BaseException) -> str:
    return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


# --- squawk --------------------------------------------------------------------------------


def find_squawk(explicit: str | None = None) -> str:
    """The squawk binary: as given, next to this Python (the venv), or on PATH."""
    if explicit:
        if not Path(explicit).is_file():
            raise UsageError(f"squawk not found at {explicit}; {INSTALL_SQUAWK}")
        return explicit
    beside = Path(sys.executable).parent / ("squawk.exe" if os.name == "nt" else "squawk")
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise UsageError(f"squawk is not installed; {INSTALL_SQUAWK}")
    return found


def squawk_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=SQUAWK_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip().removeprefix("squawk").strip() or "unknown"


def run_squawk(
    binary: str, files: list[SqlFile], options: LintOptions, pg_version: str | None
) -> list[LintIssue]:
    """squawk's findings, one call per group of files that need the same flags."""
    groups: dict[tuple[bool, tuple[str, ...]], list[SqlFile]] = {}
    for file in files:
        theirs = {rule for rule in options.exclude if rule not in rules.RULES}
        excludes = tuple(sorted(theirs | set(OUR_FILE_EXCLUDES if file.ours else ())))
        groups.setdefault((file.transactional, excludes), []).append(file)
    issues: list[LintIssue] = []
    for (transactional, excludes), group in groups.items():
        for start in range(0, len(group), SQUAWK_BATCH):
            batch = group[start : start + SQUAWK_BATCH]
            args = _squawk_args(binary, transactional, excludes, pg_version)
            issues += _squawk_batch(args, batch)
    return issues


def _squawk_args(
    binary: str, transactional: bool, excludes: tuple[str, ...], pg_version: str | None
) -> list[str]:
    # both directions explicit, so a .squawk.toml cannot change what our directive says
    args = [binary, "--reporter", "json"]
    args.append("--assume-in-transaction" if transactional else "--no-assume-in-transaction")
    if excludes:
        args.append(f"--exclude={','.join(excludes)}")
    if pg_version:
        args.append(f"--pg-version={pg_version}")
    return args


def _squawk_batch(args: list[str], batch: list[SqlFile]) -> list[LintIssue]:
    by_name = {str(f.path.resolve()): f for f in batch}
    try:
        out = subprocess.run(
            [*args, "--", *by_name], capture_output=True, text=True, timeout=SQUAWK_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"squawk did not finish within {SQUAWK_TIMEOUT_S} s") from None
    except OSError as exc:
        raise UsageError(f"cannot run squawk ({exc.strerror}); {INSTALL_SQUAWK}") from None
    # squawk exits 1 when it found something; anything else (or no JSON) is squawk failing
    try:
        reports = json.loads(out.stdout) if out.returncode in (0, 1) else None
    except json.JSONDecodeError:
        reports = None
    if not isinstance(reports, list):
        reason = _first_nonblank(out.stderr) or f"exit status {out.returncode}"
        raise UsageError(f"squawk failed: {reason}")
    return [_squawk_issue(r, by_name) for r in reports]


def _squawk_issue(report: dict[str, Any], by_name: dict[str, SqlFile]) -> LintIssue:
    file = by_name.get(report["file"]) or by_name[str(Path(report["file"]).resolve())]
    rule = str(report.get("rule_name") or "squawk")
    level = "error" if str(report.get("level", "")).lower() == "error" else "warning"
    message = str(report.get("message") or rule)
    if rule == "syntax-error":
        # pglast (PostgreSQL's own parser) read this file, so squawk's parser is the one at
        # fault: its rules may have missed statements here, which is worth a warning
        level = "warning"
        message = f"squawk could not parse this statement ({message}); its rules skipped it"
    line, column = int(report.get("line", 0)) + 1, int(report.get("column", 0)) + 1
    end_line = report.get("line_end")
    end_column = report.get("column_end")
    return LintIssue(
        rule=rule,
        level=level,
        path=file.path,
        line=line,
        column=column,
        message=message,
        help=str(report.get("help") or f"See {SQUAWK_DOCS}{rule}"),
        source="squawk",
        evidence={"docs": f"{SQUAWK_DOCS}{rule}"},
        end_line=None if end_line is None else int(end_line) + 1,
        end_column=None if end_column is None else int(end_column) + 1,
    )


def _first_nonblank(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# --- merging -------------------------------------------------------------------------------


def _merge(issues: list[LintIssue], files: list[SqlFile]) -> list[LintIssue]:
    """Drop squawk findings ours restate, then sort by file order, position, level, rule."""
    ours = {(i.path, i.line, i.rule) for i in issues if i.source == "prodready"}
    statement_lines = {f.path: {s.line: s for s in f.statements} for f in files}
    kept = [i for i in issues if not _duplicate(i, ours, statement_lines)]
    order = {f.path: n for n, f in enumerate(files)}
    return sorted(
        kept,
        key=lambda i: (order[i.path], i.line, i.column, i.level != "error", i.source, i.rule),
    )


def _duplicate(
    issue: LintIssue,
    ours: set[tuple[Path, int, str]],
    statement_lines: dict[Path, dict[int, Statement]],
) -> bool:
    mirror = DUPLICATED_BY_OURS.get(issue.rule)
    if issue.source != "squawk" or mirror is None:
        return False
    line = _statement_line(issue, statement_lines.get(issue.path, {}))
    return (issue.path, line, mirror) in ours


def _statement_line(issue: LintIssue, statements: dict[int, Statement]) -> int:
    """The start line of the statement a squawk finding points into."""
    for line, stmt in statements.items():
        if line <= issue.line <= stmt.end_line:
            return line
    return issue.line
