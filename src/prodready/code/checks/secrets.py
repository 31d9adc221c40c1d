"""Credentials written into the source tree: in server code, in browser code, in a .env."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prodready.code.registry import CodeIssue, Options, code_check
from prodready.code.roles import FRONTEND_ROLES
from prodready.code.snapshot import CodeSnapshot, SecretFact, SourceFile
from prodready.model import Category, Severity

_ROTATE = (
    "Rotate the key at its provider first (it is in the history), then read it from the "
    "environment or a secrets manager; to accept a known test value add a "
    "`prodready: allow-secret` comment or list its fingerprint in a --baseline file."
)
# Dotenv files that document variables rather than hold them.
_EXAMPLE_MARKERS = ("example", "sample", "template", "dist", "defaults")


@code_check(
    "secret_in_source",
    title="Credential written into the source code",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def secret_in_source(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """An API key, token, private key or password-bearing URL written literally in a file the
    repository holds. Everyone with read access to the repository, its forks, CI logs and
    backups holds the key too, and it stays in git history after the line is deleted.
    Critical for keys that take over an account (cloud, payment, service_role). Same engine
    as `secret_in_catalog`: detect-secrets' provider patterns plus Supabase, OpenAI,
    Anthropic, GitHub fine-grained and JWT signing secrets; look-alikes (placeholders,
    documentation keys, Stripe test keys, the Supabase anon key) are left out. Output shows
    the first four characters and a fingerprint, never the key."""
    for file in snap.files:
        if file.role in FRONTEND_ROLES or file.language == "dotenv":
            continue  # reported by secret_in_frontend / env_file_committed
        for hit in _live(file):
            yield _issue(file, hit, Severity.parse(hit.severity), "")


@code_check(
    "secret_in_frontend",
    title="Credential shipped to the browser",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
)
def secret_in_frontend(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """A secret key in code the browser downloads: a `'use client'` module, Next.js app/,
    pages/ or components/, a Vite/React src/ without a server, public/ or static/ files.
    Anyone who opens the site can read it from the bundle. A Supabase service_role key
    there bypasses every RLS policy: the whole database is public. Rotate the key now, move
    the call that needs it behind a server route, and give the browser only public keys
    (the Supabase anon key, a Stripe publishable key)."""
    for file in snap.files:
        if file.role not in FRONTEND_ROLES:
            continue
        for hit in _live(file):
            yield _issue(file, hit, Severity.CRITICAL, " in browser code")


@code_check(
    "env_file_committed",
    title="A .env file with values is committed",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def env_file_committed(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """A dotenv file with real values (not an .env.example with empty ones) is in the
    repository, or would be on the next `git add .` because .gitignore does not exclude it.
    Every variable in it, database passwords and API keys included, is readable by anyone
    with the repository. Remove it from git (`git rm --cached .env`), add `.env*` (and
    `!.env.example`) to .gitignore, rotate what it held, and commit a `.env.example` that
    lists the names with empty values."""
    for file in snap.files:
        name = file.path.rpartition("/")[2].lower()
        if file.language != "dotenv" or any(m in name for m in _EXAMPLE_MARKERS):
            continue
        filled = [v.name for v in file.env_vars if v.has_value]
        if not filled:
            continue
        hits = _live(file)
        severity = max([Severity.HIGH, *(Severity.parse(h.severity) for h in hits)])
        state = "committed" if file.tracked else "not ignored by .gitignore"
        evidence: dict[str, Any] = {"vars": filled, "tracked": file.tracked}
        if hits:
            evidence["secrets"] = [_redacted(h) for h in hits]
        yield CodeIssue(
            file=file.path,
            line=None,
            detail=f"{file.path} ({state}) sets {len(filled)} variable(s): {', '.join(filled[:8])}",
            fix="git rm --cached the file, add `.env*` and `!.env.example` to .gitignore, "
            "rotate every credential it held, and commit a .env.example with empty values.",
            evidence=evidence,
            severity=severity,
            ident="file",
        )


def _live(file: SourceFile) -> list[SecretFact]:
    return [h for h in file.secrets if not h.allowed]


def _issue(file: SourceFile, hit: SecretFact, severity: Severity, where: str) -> CodeIssue:
    return CodeIssue(
        file=file.path,
        line=hit.line,
        detail=f"{hit.kind} ({hit.preview}, fingerprint {hit.fingerprint}){where}",
        fix=_ROTATE,
        evidence=_redacted(hit) | {"role": file.role},
        severity=severity,
        ident=hit.fingerprint,
        fingerprint=hit.fingerprint,
    )


def _redacted(hit: SecretFact) -> dict[str, Any]:
    return {"kind": hit.kind, "preview": hit.preview, "fingerprint": hit.fingerprint}
