"""The source scan's snapshot: plain, JSON-serialisable facts per file, gathered once.

Checks read only these facts (never the text), so they stay pure and testable from
hand-built snapshots. Secrets are stored redacted: the snapshot can be saved and shared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SecretFact:
    line: int
    kind: str
    severity: str
    preview: str  # first four characters and an ellipsis
    fingerprint: str
    allowed: bool = False  # an inline allow comment on this line or the one above


@dataclass(frozen=True)
class LogCall:
    line: int
    call: str  # console.log, print
    sensitive: str | None = None  # what it logs that it should not (password, req.body...)


@dataclass(frozen=True)
class QueryCall:
    """A call that talks to the database, as far as the parser can tell."""

    line: int
    call: str  # the callee as written, shortened: supabase.from(...).select, cur.execute
    sql: str | None = None  # the constant SQL text passed, when there is one
    built: str | None = None  # how non-constant SQL was built: concatenation, template, f-string
    built_line: int | None = None  # where it was built, when not in the call itself
    loop: str | None = None  # the loop it runs in: for, while, .map(async ...)


@dataclass(frozen=True)
class SqlText:
    line: int
    text: str  # a string literal that reads as SQL (shortened)


@dataclass(frozen=True)
class EnvRead:
    line: int
    name: str


@dataclass(frozen=True)
class EnvVar:
    """A line of a dotenv file: the name, and whether it carries a value (never the value)."""

    line: int
    name: str
    has_value: bool


@dataclass(frozen=True)
class Flag:
    """A code pattern found at a line, with a short note of what was seen."""

    line: int
    note: str


@dataclass
class ParsedFacts:
    """What a language parser (js.py, py.py) reads from one file; SourceFile carries it."""

    parsed: bool = True
    imports: list[str] = field(default_factory=list)
    logs: list[LogCall] = field(default_factory=list)
    queries: list[QueryCall] = field(default_factory=list)
    sql_texts: list[SqlText] = field(default_factory=list)
    env_reads: list[EnvRead] = field(default_factory=list)
    env_validation: list[Flag] = field(default_factory=list)
    cors_wildcard_credentials: list[Flag] = field(default_factory=list)
    stack_responses: list[Flag] = field(default_factory=list)


@dataclass(frozen=True)
class SourceFile:
    path: str
    language: str  # javascript, typescript, tsx, python, dotenv, text
    role: str  # server, client, test, script, static, config, other
    lines: int
    tracked: bool | None = None
    parsed: bool = True  # False when the parser gave up (syntax errors): facts are partial
    imports: list[str] = field(default_factory=list)
    secrets: list[SecretFact] = field(default_factory=list)
    logs: list[LogCall] = field(default_factory=list)
    queries: list[QueryCall] = field(default_factory=list)
    sql_texts: list[SqlText] = field(default_factory=list)
    env_reads: list[EnvRead] = field(default_factory=list)
    env_vars: list[EnvVar] = field(default_factory=list)
    env_validation: list[Flag] = field(default_factory=list)
    cors_wildcard_credentials: list[Flag] = field(default_factory=list)
    stack_responses: list[Flag] = field(default_factory=list)


@dataclass(frozen=True)
class Project:
    """Repo-level facts: dependencies, package scripts, directories."""

    dependencies: list[str] = field(default_factory=list)  # npm and Python package names
    scripts: dict[str, str] = field(default_factory=dict)  # package.json scripts
    dirs: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)  # next, vite, express, fastapi, django...


@dataclass(frozen=True)
class Skip:
    path: str
    reason: str


@dataclass(frozen=True)
class CodeSnapshot:
    root: str
    git: bool
    project: Project
    files: list[SourceFile]
    skipped: list[Skip] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CodeSnapshot:
        files = [_source_file(f) for f in data["files"]]
        return cls(
            root=data["root"],
            git=data["git"],
            project=Project(**data["project"]),
            files=files,
            skipped=[Skip(**s) for s in data.get("skipped", [])],
        )


_FACT_TYPES: dict[str, type] = {
    "secrets": SecretFact,
    "logs": LogCall,
    "queries": QueryCall,
    "sql_texts": SqlText,
    "env_reads": EnvRead,
    "env_vars": EnvVar,
    "env_validation": Flag,
    "cors_wildcard_credentials": Flag,
    "stack_responses": Flag,
}


def _source_file(data: dict[str, Any]) -> SourceFile:
    fields = dict(data)
    for name, kind in _FACT_TYPES.items():
        fields[name] = [kind(**item) for item in data.get(name, [])]
    return SourceFile(**fields)
