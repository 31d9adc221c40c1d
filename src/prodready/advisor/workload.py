"""Workload intake: the statements an application runs, grouped by fingerprint.

Three sources produce `WorkloadQuery` lists: pg_stat_statements (normalised `$n` text with
calls and time), SQL files (literal statements, `-- weight: N` / `-- role: R` comment lines)
and PostgreSQL server logs (stderr or csvlog, with the `parameters:` detail lines).
`load_workload` dispatches command-line specs and merges what they return.

Grouping: statements with the same pglast fingerprint are one WorkloadQuery. Calls and time
are summed; the text kept is the variant with the most calls, preferring one that can be
planned with realistic values (literal, or `$n` with observed parameters). Literal variants
are not normalised to `$n`: the most frequent literal text is already a realistic statement.
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg
from pglast import parse_sql
from pglast.parser import ParseError, fingerprint, parse_sql_json, scan
from psycopg import sql

from prodready.advisor.model import WorkloadQuery
from prodready.errors import TargetError, UsageError

PG_STAT_STATEMENTS = "pg_stat_statements"
MARKER = "/* prodready */"
MAX_SAMPLES = 1000  # observed parameter tuples kept per statement (the first ones seen)
MAX_VARIANTS = 5  # literal forms of one statement planned apart (the most called ones)

# Statements the planner can cost; everything else is DDL or a utility command.
PLANNABLE = frozenset({"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})
# Session chatter every driver sends: never part of a workload, never worth a "skipped" line.
SESSION_NOISE = frozenset(
    {
        "TransactionStmt", "VariableSetStmt", "VariableShowStmt", "DiscardStmt",
        "DeallocateStmt", "ListenStmt", "UnlistenStmt", "NotifyStmt", "CheckPointStmt",
    }
)  # fmt: skip

_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_SEMICOLON = "ASCII_59"


@dataclass
class _Seen:
    """Executions of one exact statement text, before grouping by fingerprint."""

    text: str
    calls: float
    source: str
    total_ms: float | None = None
    timed_calls: float = 0.0  # calls whose duration is known (logs may lack some)
    roles: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str | None, ...]] = field(default_factory=list)


# -- fingerprints and statement kinds --------------------------------------------------------


def statement_fingerprint(text: str) -> str:
    """pglast's fingerprint; text that does not parse gets a hash of its whitespace-normal form."""
    try:
        return str(fingerprint(text))
    except ParseError:
        normal = " ".join(text.split())
        return hashlib.sha1(normal.encode(), usedforsecurity=False).hexdigest()[:16]


def has_params(text: str) -> bool:
    """True when the statement has `$n` placeholders (a `$` inside a string does not count)."""
    try:
        return any(token.name == "PARAM" for token in scan(text))
    except ParseError:
        return "$" in text


def statement_kinds(text: str) -> list[str] | None:
    """The node type of each statement in `text` (SelectStmt, ...), or None if it does not parse."""
    try:
        return [type(raw.stmt).__name__ for raw in parse_sql(text)]
    except ParseError:
        return None


# The words a plannable statement can start with; anything else (DDL, SET, BEGIN, VACUUM...)
# is rejected without parsing, which on a busy pg_stat_statements is most of its entries.
_LEADING = re.compile(r"(?:\s+|/\*.*?\*/|--[^\n]*(?:\n|$)|\()*([A-Za-z]+)", re.DOTALL)
_PLANNABLE_WORDS = frozenset({"select", "with", "insert", "update", "delete", "merge", "values",
                              "table"})  # fmt: skip
_FROM = re.compile(r"\bfrom\b", re.IGNORECASE)


def _worth_parsing(text: str) -> bool:
    """A cheap look before pglast: could this be a statement an index can serve?"""
    match = _LEADING.match(text)
    if match is None:
        return True  # let the parser judge (and report) it
    word = match.group(1).lower()
    if word not in _PLANNABLE_WORDS:
        return False
    # a SELECT or VALUES without FROM anywhere reads no table (SELECT 1, SELECT now())
    return word not in ("select", "values") or _FROM.search(text) is not None


# PostgreSQL's own referential-integrity queries: the foreign-key triggers' row lookups and
# the scan that validates a new foreign key. They follow the schema, not the app.
_RI_QUERY = re.compile(
    r"^\s*SELECT\s+1\s+FROM\s+ONLY\s+.*\bFOR\s+KEY\s+SHARE\s+OF\s+x\s*$"
    r"|^\s*SELECT\s+fk\.\S+.*\bFROM\s+ONLY\s+\S+\s+fk\s+LEFT\s+OUTER\s+JOIN\s+ONLY\s",
    re.IGNORECASE | re.DOTALL,
)


def _is_query(text: str) -> bool:
    """A statement pg_stat_statements or a log contributes: plannable, or kept to be reported."""
    if MARKER in text or not _worth_parsing(text) or _RI_QUERY.match(text):
        return False
    kinds = statement_kinds(text)
    if kinds is None:
        return True  # kept, to be reported as unparseable
    if not kinds or not all(kind in PLANNABLE for kind in kinds):
        return False
    return any(kind in _WRITES for kind in kinds) or _reads_a_relation(text)


# A write always names its target table (which libpg_query's JSON shows without a type tag).
_WRITES = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


def _reads_a_relation(text: str) -> bool:
    """No index can help a query that names no table (SELECT now(), function calls)."""
    return '"RangeVar"' in parse_sql_json(text)


def _is_noise(text: str) -> bool:
    kinds = statement_kinds(text)
    return kinds is not None and (not kinds or all(kind in SESSION_NOISE for kind in kinds))


# -- grouping --------------------------------------------------------------------------------


def group_statements(seen: Iterable[_Seen]) -> list[WorkloadQuery]:
    """One WorkloadQuery per fingerprint, heaviest first (total time, then calls)."""
    groups: dict[str, list[_Seen]] = {}
    for item in seen:
        groups.setdefault(statement_fingerprint(item.text), []).append(item)
    queries = [_merge_group(fp, items) for fp, items in groups.items()]
    return sorted(queries, key=lambda q: (-(q.total_ms or 0.0), -q.calls, q.fingerprint))


def _merge_group(fp: str, items: list[_Seen]) -> WorkloadQuery:
    by_text: dict[str, _Seen] = {}
    for item in items:
        if item.text in by_text:
            _absorb(by_text[item.text], item)
        else:
            by_text[item.text] = _Seen(
                item.text, item.calls, item.source, item.total_ms, item.timed_calls,
                Counter(item.roles), list(item.samples),
            )  # fmt: skip
    # max() keeps the first of equals: ties go to the variant seen first
    best = max(by_text.values(), key=lambda s: (_bindable(s), s.calls))
    calls = sum(s.calls for s in by_text.values())
    timed = [s for s in by_text.values() if s.total_ms is not None]
    total = sum(s.total_ms or 0.0 for s in timed) if timed else None
    timed_calls = sum(s.timed_calls for s in timed)
    roles: Counter[str] = Counter()
    for s in by_text.values():
        roles.update(s.roles)
    sources = list(dict.fromkeys(src for s in items for src in s.source.split("+")))
    literal = [s for s in by_text.values() if not has_params(s.text)]
    literal.sort(key=lambda s: -s.calls)  # stable: ties keep the order they were seen in
    variants = [(s.text, s.calls) for s in literal[:MAX_VARIANTS]]
    if variants and not has_params(best.text):
        best = next(s for s in by_text.values() if s.text == variants[0][0])
    return WorkloadQuery(
        fingerprint=fp,
        text=best.text,
        calls=calls,
        source="+".join(sources),
        total_ms=total,
        mean_ms=total / timed_calls if total is not None and timed_calls else None,
        role=roles.most_common(1)[0][0] if roles else None,
        param_samples=tuple(best.samples[:MAX_SAMPLES]),
        variants=tuple(variants) if len(variants) > 1 and best.text == variants[0][0] else (),
    )


def _absorb(into: _Seen, item: _Seen) -> None:
    into.calls += item.calls
    if item.total_ms is not None:
        into.total_ms = (into.total_ms or 0.0) + item.total_ms
        into.timed_calls += item.timed_calls
    into.roles.update(item.roles)
    room = MAX_SAMPLES - len(into.samples)
    into.samples.extend(item.samples[: max(room, 0)])
    if item.source not in into.source.split("+"):
        into.source = f"{into.source}+{item.source}"


def _bindable(seen: _Seen) -> bool:
    """Literal text, or `$n` text with observed values: plannable with real parameters."""
    return bool(seen.samples) or not has_params(seen.text)


def _from_query(query: WorkloadQuery) -> _Seen:
    timed = query.calls if query.total_ms is not None else 0.0
    roles = Counter({query.role: query.calls}) if query.role else Counter()
    return _Seen(
        query.text, query.calls, query.source, query.total_ms, timed, roles,
        list(query.param_samples),
    )  # fmt: skip


def merge_workloads(workloads: Iterable[list[WorkloadQuery]]) -> list[WorkloadQuery]:
    """Merge several sources: same fingerprint means same statement (calls and time add up)."""
    return group_statements(
        seen for workload in workloads for query in workload for seen in _unmerged(query)
    )


def _unmerged(query: WorkloadQuery) -> list[_Seen]:
    """A grouped statement as it was seen: one text, or each of its literal variants."""
    if not query.variants:
        return [_from_query(query)]
    total = sum(calls for _, calls in query.variants) or 1.0
    seen = []
    for text, calls in query.variants:
        share = calls / total
        whole = _from_query(query)
        whole.text, whole.calls, whole.timed_calls = (
            text,
            whole.calls * share,
            whole.timed_calls * share,
        )
        whole.total_ms = None if whole.total_ms is None else whole.total_ms * share
        whole.roles = Counter({role: n * share for role, n in whole.roles.items()})
        seen.append(whole)
    return seen


# -- pg_stat_statements ----------------------------------------------------------------------


def from_pg_stat_statements(
    conn: psycopg.Connection,
    *,
    database: str | None = None,
    min_calls: float = 1,
    limit: int = 500,
) -> list[WorkloadQuery]:
    """The statements of a database (the current one by default) that pg_stat_statements saw.

    Utility statements, DDL and prodready's own queries are left out; entries with the same
    fingerprint (other roles, other parameter types) are merged. Heaviest `limit` first.
    """
    schema = pg_stat_statements_schema(conn)
    if schema is None:
        raise TargetError(
            "pg_stat_statements is not installed in this database "
            "(CREATE EXTENSION pg_stat_statements; it must be in shared_preload_libraries)"
        )
    query = sql.SQL(_sql("workload_statements")).format(pgss=sql.Identifier(schema))
    try:
        rows = conn.execute(query, {"database": database}).fetchall()
    except psycopg.Error as exc:
        raise TargetError(f"cannot read pg_stat_statements: {_first_line(exc)}") from None
    seen = [
        _Seen(
            text=text.strip(),
            calls=float(calls),
            source=PG_STAT_STATEMENTS,
            total_ms=float(total_ms),
            timed_calls=float(calls),
            roles=Counter({role: float(calls)}) if role else Counter(),
        )
        for text, calls, total_ms, role in rows
        if _is_query(text)
    ]
    queries = [q for q in group_statements(seen) if q.calls >= min_calls]
    return queries[:limit]


def pg_stat_statements_schema(conn: psycopg.Connection) -> str | None:
    """The schema pg_stat_statements is installed in (public, extensions...), or None."""
    row = conn.execute(
        "SELECT /* prodready */ n.nspname FROM pg_extension e"
        " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    return str(row[0]) if row else None


# -- SQL files -------------------------------------------------------------------------------

_ANNOTATION = re.compile(r"--\s*(weight|role|name)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")


def from_sql_file(path: Path | str) -> list[WorkloadQuery]:
    """Statements of a SQL file, weighted by the `-- weight: N` comment line before each.

    `-- role: R` says which role runs the statement; `-- name: X` is accepted and ignored.
    A statement without a weight counts as one call.
    """
    path = Path(path)
    text = _read_text(path, strict=True)
    try:
        pieces = list(split_with_comments(text))
    except ParseError as exc:
        raise UsageError(f"{path}: cannot split into statements: {exc}") from None
    seen = []
    for statement, comments in pieces:
        weight, role = _annotations(path, text, comments)
        roles = Counter({role: weight}) if role else Counter()
        seen.append(_Seen(statement, weight, path.name, roles=roles))
    if not seen:
        raise UsageError(f"{path}: no SQL statements in the file")
    return group_statements(seen)


def split_with_comments(text: str) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """Each statement of a script with the comment lines directly above it (offset, text).

    pglast's scanner finds the boundaries, so `;` inside strings, dollar quotes and comments
    does not split. Comment lines count as "directly above" when nothing but line breaks
    (no blank line) separates them from the statement.
    """
    current: list[tuple[int, int]] = []
    comments: list[tuple[int, int]] = []
    for token in scan(text):
        if token.name in _COMMENT_TOKENS:
            if not current:
                comments.append((token.start, token.end + 1))
        elif token.name == _SEMICOLON:
            if current:
                yield _statement(text, current, comments)
            current, comments = [], []
        else:
            current.append((token.start, token.end + 1))
    if current:
        yield _statement(text, current, comments)


def _statement(
    text: str, tokens: list[tuple[int, int]], comments: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, str]]]:
    start, end = tokens[0][0], tokens[-1][1]
    above: list[tuple[int, str]] = []
    next_start = start
    for c_start, c_end in reversed(comments):
        gap = text[c_end:next_start]
        line_start = text.rfind("\n", 0, c_start) + 1
        if gap.strip() or gap.count("\n") > 1 or text[line_start:c_start].strip():
            break
        above.insert(0, (c_start, text[c_start:c_end]))
        next_start = c_start
    return text[start:end], above


def _annotations(
    path: Path, text: str, comments: list[tuple[int, str]]
) -> tuple[float, str | None]:
    weight, role = 1.0, None
    for offset, comment in comments:
        match = _ANNOTATION.match(comment)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "weight":
            if not _NUMBER.fullmatch(value):
                line = text.count("\n", 0, offset) + 1
                raise UsageError(f"{path}:{line}: weight must be a number of calls, not {value!r}")
            weight = float(value)
        elif key == "role" and value:
            role = value
    return weight, role


# -- server logs -----------------------------------------------------------------------------

_SEVERITY = re.compile(
    r"(?P<severity>LOG|ERROR|WARNING|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|NOTICE|INFO"
    r"|DEBUG[1-5]?|LOCATION|QUERY):  "
)
_PID = re.compile(r"\[(\d+)\]|\bpid=(\d+)")
_USER = re.compile(r"\buser=([^,\s\]]+)|:([^:@\s]+)@[^:@\s]*:")
_DURATION = re.compile(r"duration: (?P<ms>\d+(?:\.\d+)?) ms(?P<rest>.*)\Z", re.DOTALL)
_STATEMENT = re.compile(
    r"\s*(?P<kind>statement|execute|bind|parse)(?: (?P<name>[^:\n]*))?: (?P<text>.*)\Z",
    re.DOTALL,
)
_PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')(?:, |\s*$)")

# csvlog columns (PostgreSQL 13-17 share these positions)
_CSV_USER, _CSV_PID, _CSV_SEVERITY, _CSV_MESSAGE, _CSV_DETAIL = 1, 3, 11, 13, 14


@dataclass
class _LogEntry:
    pid: str
    user: str | None
    severity: str
    message: str


class _LogReader:
    """Turns log entries into executions: statements, their durations and parameters."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.by_text: dict[str, _Seen] = {}
        self.untimed: dict[str, _Seen] = {}  # per pid: a statement whose duration comes later
        self.last: _Seen | None = None  # the execution a following DETAIL line belongs to

    def entry(self, entry: _LogEntry) -> None:
        if entry.severity == "DETAIL":
            if self.last is not None:
                self._parameters(self.last, entry.message)
            self.last = None
            return
        self.last = None
        if entry.severity == "LOG":
            self._log(entry)

    def _log(self, entry: _LogEntry) -> None:
        ms: float | None = None
        message = entry.message
        duration = _DURATION.match(message)
        if duration:
            ms, message = float(duration.group("ms")), duration.group("rest")
            if not message.strip():  # log_statement logged the text already
                self._late_duration(entry.pid, ms)
                return
        match = _STATEMENT.match(message)
        if match is None or match.group("kind") in ("bind", "parse"):
            return
        name = match.group("name") or ""
        if name.startswith("fetch from"):  # a cursor fetch continues an execution
            return
        text = match.group("text").strip()
        if MARKER in text:  # prodready's own catalog reads
            return
        pieces = split_statements(text) or [text]
        for piece in pieces:
            share = ms / len(pieces) if ms is not None else None
            self.last = self._execution(entry, piece, share)
        if len(pieces) > 1:
            self.last = None  # parameters only ever belong to a single statement

    def _execution(self, entry: _LogEntry, text: str, ms: float | None) -> _Seen | None:
        if MARKER in text or _is_noise(text):
            return None
        seen = self.by_text.get(text)
        if seen is None:
            seen = self.by_text[text] = _Seen(text, 0.0, self.source)
        seen.calls += 1
        if entry.user:
            seen.roles[entry.user] += 1
        if ms is None:
            self.untimed[entry.pid] = seen
        else:
            seen.total_ms = (seen.total_ms or 0.0) + ms
            seen.timed_calls += 1
        return seen

    def _late_duration(self, pid: str, ms: float) -> None:
        seen = self.untimed.pop(pid, None)
        if seen is not None:
            seen.total_ms = (seen.total_ms or 0.0) + ms
            seen.timed_calls += 1

    def _parameters(self, seen: _Seen, detail: str) -> None:
        values = parse_parameters(detail)
        if values is not None and len(seen.samples) < MAX_SAMPLES:
            seen.samples.append(values)


def parse_parameters(detail: str) -> tuple[str | None, ...] | None:
    """`parameters: $1 = 'x', $2 = NULL` as SQL literals by position, NULL as None."""
    text = detail.strip()
    if not text.startswith("parameters: "):
        return None
    found: dict[int, str | None] = {}
    for match in _PARAMETER.finditer(text, len("parameters: ")):
        value = match.group(2)
        found[int(match.group(1))] = None if value == "NULL" else value
    if not found:
        return None
    return tuple(found.get(n) for n in range(1, max(found) + 1))


def from_log_file(path: Path | str) -> list[WorkloadQuery]:
    """Statements of a PostgreSQL server log: stderr format, or csvlog for a `.csv` file.

    Reads what `log_min_duration_statement` (or `log_statement`) wrote: simple-protocol
    `statement:` lines and extended-protocol `execute` lines (parse/bind lines are not calls),
    their durations, and the `parameters:` detail lines as parameter samples.
    """
    path = Path(path)
    text = _read_text(path, strict=False)
    reader = _LogReader(path.name)
    entries = _csv_entries(path, text) if path.suffix.lower() == ".csv" else _stderr_entries(text)
    for entry in entries:
        reader.entry(entry)
    if not reader.by_text:
        raise UsageError(
            f"{path}: no logged statements (log them with log_min_duration_statement = 0)"
        )
    return group_statements(reader.by_text.values())


def _stderr_entries(text: str) -> Iterator[_LogEntry]:
    """Log entries of the stderr format, whatever log_line_prefix is.

    An entry starts on a line holding `SEVERITY:  `; PostgreSQL starts the continuation lines
    of a multi-line message with a tab, and lines with no severity marker continue too.
    """
    entry: _LogEntry | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = None if line.startswith("\t") else _SEVERITY.search(line)
        if match is None:
            if entry is not None:
                lines.append(line[1:] if line.startswith("\t") else line)
            continue
        if entry is not None:
            entry.message = "\n".join(lines)
            yield entry
        prefix = line[: match.start()]
        entry = _LogEntry(_pid(prefix), _user(prefix), match.group("severity"), "")
        lines = [line[match.end() :]]
    if entry is not None:
        entry.message = "\n".join(lines)
        yield entry


def _csv_entries(path: Path, text: str) -> Iterator[_LogEntry]:
    csv.field_size_limit(sys.maxsize)  # a long statement is one field
    rows = 0
    for row in csv.reader(text.splitlines(keepends=True)):
        if len(row) <= _CSV_DETAIL:
            continue
        rows += 1
        user = row[_CSV_USER] or None
        yield _LogEntry(row[_CSV_PID], user, row[_CSV_SEVERITY], row[_CSV_MESSAGE])
        if row[_CSV_DETAIL]:
            yield _LogEntry(row[_CSV_PID], user, "DETAIL", row[_CSV_DETAIL])
    if rows == 0 and text.strip():
        raise UsageError(f"{path}: not a PostgreSQL csvlog file (expected 23 or more columns)")


def _pid(prefix: str) -> str:
    match = _PID.search(prefix)
    return next((g for g in match.groups() if g), "") if match else ""


def _user(prefix: str) -> str | None:
    match = _USER.search(prefix)
    return next((g for g in match.groups() if g), None) if match else None


def split_statements(text: str) -> list[str]:
    """The statements of a string, split by pglast's scanner (comments before them dropped)."""
    try:
        return [statement for statement, _ in split_with_comments(text)]
    except ParseError:
        return []


# -- dispatch --------------------------------------------------------------------------------


def load_workload(specs: list[str], conn: psycopg.Connection | None) -> list[WorkloadQuery]:
    """Read and merge the workload sources named on the command line.

    A spec is `pg_stat_statements` (read through `conn`), a `.sql` file, a `.csv` csvlog,
    a stderr log (a name with `.log` in it, rotated files included), or `code:PATH`.
    """
    workloads = []
    for spec in specs:
        if spec.startswith("code:"):  # the SQL a source tree runs (`prodready scan`'s parsers)
            from prodready.code.workload import from_code

            workloads.append(from_code(Path(spec.removeprefix("code:"))))
            continue
        if spec == PG_STAT_STATEMENTS:
            if conn is None:
                raise UsageError("the pg_stat_statements workload needs a database connection")
            workloads.append(from_pg_stat_statements(conn))
            continue
        path = Path(spec)
        name = path.name.lower()
        if path.suffix.lower() == ".sql":
            workloads.append(from_sql_file(path))
        elif path.suffix.lower() == ".csv" or ".log" in name:
            workloads.append(from_log_file(path))
        else:
            raise UsageError(
                f"unknown workload {spec!r}: use pg_stat_statements, a .sql file,"
                " or a PostgreSQL log (.log, or .csv for csvlog)"
            )
    if len(workloads) == 1:
        return workloads[0]
    return merge_workloads(workloads)


# -- helpers ---------------------------------------------------------------------------------


def _read_text(path: Path, *, strict: bool) -> str:
    """A workload file's text; any problem is one clear usage error."""
    if not path.exists():
        raise UsageError(f"workload file not found: {path}")
    if not path.is_file():
        raise UsageError(f"workload path is not a file: {path}")
    try:
        text = path.read_text(encoding="utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise UsageError(f"workload file is empty: {path}")
    return text


def _sql(name: str) -> str:
    return resources.files("prodready.advisor.sql").joinpath(f"{name}.sql").read_text()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
