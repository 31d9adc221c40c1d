"""Server-code hygiene: logging, SQL built from input, SELECT *, N+1, CORS, leaked stacks.

Only server code is judged: tests, browser code and CLI scripts may print and loop freely.
"""

from __future__ import annotations

from collections.abc import Iterator

from prodready.code.js import STAR_SELECT
from prodready.code.registry import CodeIssue, Options, code_check
from prodready.code.snapshot import CodeSnapshot, SourceFile
from prodready.code.sqltext import selects_star
from prodready.model import Category, Severity

# Loggers a project may already depend on or import, in the order we suggest them.
_LOGGERS = ("pino", "winston", "bunyan", "structlog", "loguru", "logging")


def server_files(snap: CodeSnapshot) -> Iterator[SourceFile]:
    return (f for f in snap.files if f.role == "server")


@code_check(
    "console_logging_in_server",
    title="console.log / print in server code",
    category=Category.OBSERVABILITY,
    severity=Severity.LOW,
)
def console_logging_in_server(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """console.* and print() write unstructured lines with no level, no request id and no
    redaction: production logs cannot be filtered or correlated, and whatever is printed
    (request bodies, tokens, passwords) lands in plain text in the log store. Medium when a
    call logs something sensitive. Use the project's structured logger (pino, winston,
    structlog, logging) with levels and a redaction list."""
    logger = project_logger(snap)
    for file in server_files(snap):
        if not file.logs:
            continue
        sensitive = sorted({c.sensitive for c in file.logs if c.sensitive})
        calls = sorted({c.call for c in file.logs})
        severity = Severity.MEDIUM if sensitive else Severity.LOW
        what = f"{len(file.logs)} {'/'.join(calls)} call(s)"
        if sensitive:
            what += f", logging {', '.join(sensitive)}"
        yield CodeIssue(
            file=file.path,
            line=file.logs[0].line,
            detail=what,
            fix=f"Replace them with {logger} (leveled, structured, with redaction of "
            "passwords, tokens and request bodies).",
            evidence={"calls": len(file.logs), "lines": [c.line for c in file.logs][:20],
                      "sensitive": sensitive, "logger": logger},
            severity=severity,
        )  # fmt: skip


def project_logger(snap: CodeSnapshot) -> str:
    """The logger the project already uses, else the usual one for its language."""
    deps = set(snap.project.dependencies)
    imports = {i.split(".")[0] for f in snap.files for i in f.imports}
    for name in _LOGGERS:
        if name in deps or name in imports:
            return "Python's logging" if name == "logging" else name
    python = any(f.language == "python" for f in snap.files)
    return "structlog or Python's logging" if python else "pino"


@code_check(
    "sql_string_built",
    title="SQL built from non-constant input",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def sql_string_built(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """SQL text assembled by concatenation, a template literal, an f-string, % or
    str.format with a value that is not a constant, then passed to a query call: if any
    part comes from a request, it is SQL injection. Pass values as parameters (`$1`, `%s`,
    `?`, named binds) or use a safe tagged template (postgres.js sql`...`, Prisma.sql,
    Prisma's $queryRaw`...`); quote identifiers with the driver's helper (pg-format %I,
    psycopg.sql.Identifier)."""
    for file in snap.files:
        if file.role != "server":
            continue
        for q in file.queries:
            if q.built:
                where = f" (built on line {q.built_line})" if q.built_line else ""
                yield CodeIssue(
                    file=file.path,
                    line=q.line,
                    detail=f"{q.call}(...) runs SQL built by {q.built}{where}",
                    fix="Pass the values as query parameters ($1 / %s / ?) or use a safe tagged "
                    "template; never splice them into the SQL text.",
                    evidence={"call": q.call, "built_by": q.built, "built_line": q.built_line},
                )


@code_check(
    "select_star",
    title="SELECT * in application queries",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
)
def select_star(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """SELECT * (and supabase-js `.select('*')`) reads every column: wide rows cross the
    network, index-only scans become impossible, and a column added later (a password hash,
    a large JSON blob) silently flows into API responses. Name the columns the caller uses."""
    for file in server_files(snap):
        for text in file.sql_texts:
            if text.text == STAR_SELECT or selects_star(text.text):
                yield CodeIssue(
                    file=file.path,
                    line=text.line,
                    detail=f"{text.text}",
                    fix="List the columns the code reads instead of *.",
                    evidence={"sql": text.text},
                )


@code_check(
    "n_plus_one",
    title="Query run once per item of a loop (N+1)",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
)
def n_plus_one(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """A database call inside a loop or an `.map(async ...)` over rows runs one round trip
    per item: 100 rows make 101 queries, and latency grows with the data. Fetch the related
    rows in one query (`WHERE id = ANY($1)`, `.in('id', ids)`, Prisma `include`, Django
    `select_related`/`prefetch_related`, SQLAlchemy `selectinload`) and join in memory."""
    for file in server_files(snap):
        for q in file.queries:
            if q.loop:
                yield CodeIssue(
                    file=file.path,
                    line=q.line,
                    detail=f"{q.call}(...) inside {q.loop}",
                    fix="Fetch all items' rows in one query (ANY($1) / IN / include / "
                    "prefetch_related / selectinload) before the loop.",
                    evidence={"call": q.call, "loop": q.loop},
                )


@code_check(
    "cors_wildcard_credentials_in_code",
    title="CORS allows every origin with credentials",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def cors_wildcard_credentials_in_code(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """CORS configured for any origin (`*`, `origin: true`, a reflected Origin header) while
    allowing credentials: a middleware that reflects the Origin lets every website read
    authenticated responses with the visitor's cookies. List the allowed origins explicitly
    (`origin: ['https://app.example.com']`, `allow_origins=[...]`)."""
    for file in server_files(snap):
        for flag in file.cors_wildcard_credentials:
            yield CodeIssue(
                file=file.path,
                line=flag.line,
                detail=flag.note,
                fix="Allow an explicit list of origins when credentials are allowed.",
                evidence={"config": flag.note},
            )


@code_check(
    "error_stack_returned",
    title="Stack trace sent to the client",
    category=Category.SECURITY,
    severity=Severity.MEDIUM,
)
def error_stack_returned(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """`err.stack` or a Python traceback in a response body tells an attacker file paths,
    library versions and the code path that failed, and may carry SQL or secrets from the
    error message. Log the stack on the server with a request id; send the client a generic
    message and that id."""
    for file in server_files(snap):
        seen: set[int] = set()
        for flag in file.stack_responses:
            if flag.line in seen:
                continue
            seen.add(flag.line)
            yield CodeIssue(
                file=file.path,
                line=flag.line,
                detail=flag.note,
                fix="Log the stack server-side; return a generic error with a request id.",
                evidence={"expression": flag.note},
            )
