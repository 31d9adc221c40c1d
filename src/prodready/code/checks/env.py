"""Environment variables: documented, validated at startup, and never a secret in the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prodready.code.registry import CodeIssue, Options, code_check
from prodready.code.roles import FRONTEND_ROLES, is_public_env
from prodready.code.snapshot import CodeSnapshot, EnvRead, SourceFile
from prodready.model import Category, Severity

# Set by the runtime or the platform, not by whoever deploys the app.
_RUNTIME_VARS = frozenset({
    "NODE_ENV", "CI", "HOME", "PATH", "PWD", "TZ", "HOSTNAME", "USER", "SHELL", "LANG",
    "VERCEL", "VERCEL_ENV", "VERCEL_URL", "NEXT_RUNTIME", "npm_package_version", "MODE", "DEV",
    "PROD", "SSR", "BASE_URL", "PYTHONPATH", "VIRTUAL_ENV",
})  # fmt: skip
_EXAMPLE_MARKERS = ("example", "sample", "template", "dist", "defaults")
_VALIDATORS = frozenset({
    "envalid", "@t3-oss/env-nextjs", "@t3-oss/env-core", "@t3-oss/env-nuxt", "env-schema",
    "envsafe", "pydantic-settings", "environs", "django-environ", "dynaconf", "znv",
})  # fmt: skip
_SECRET_NAME = re.compile(
    r"SERVICE_ROLE|SERVICE_KEY|SECRET|PRIVATE_KEY|ADMIN_KEY|DATABASE_URL|DB_PASSWORD|PASSWORD"
)


def _reads(snap: CodeSnapshot) -> Iterator[tuple[SourceFile, EnvRead]]:
    for file in snap.files:
        if file.role not in ("test",):
            for read in file.env_reads:
                yield file, read


@code_check(
    "env_undocumented",
    title="Environment variable read in code but missing from .env.example",
    category=Category.RELIABILITY,
    severity=Severity.LOW,
)
def env_undocumented(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """The code reads a variable that no .env.example (or .env.sample/.env.template) lists:
    the next person to deploy or run the app learns it exists when something breaks in
    production. List every variable in .env.example, with an empty value or a placeholder
    and a comment saying what it is for."""
    documented = {
        v.name
        for f in snap.files
        if f.language == "dotenv" and any(m in f.path.lower() for m in _EXAMPLE_MARKERS)
        for v in f.env_vars
    }
    first: dict[str, tuple[SourceFile, EnvRead]] = {}
    for file, read in _reads(snap):
        if read.name not in documented and read.name not in _RUNTIME_VARS:
            first.setdefault(read.name, (file, read))
    for name, (file, read) in sorted(first.items()):
        yield CodeIssue(
            file=file.path,
            line=read.line,
            detail=f"{name} is read here but no .env.example lists it",
            fix=f"Add `{name}=` to .env.example with a comment saying what it is for.",
            evidence={"var": name},
            ident=name,
        )


@code_check(
    "env_unvalidated",
    title="Environment not validated at startup",
    category=Category.RELIABILITY,
    severity=Severity.LOW,
)
def env_unvalidated(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """The server reads environment variables without a schema (zod, envalid, @t3-oss/env,
    pydantic-settings, environs): a missing or misspelt variable surfaces as `undefined`
    deep inside a request, hours after a deploy, instead of stopping the process at boot.
    Parse the environment once at startup with a schema and import the typed result."""
    if _VALIDATORS & set(snap.project.dependencies):
        return
    if any(f.env_validation for f in snap.files):
        return
    reads = [(f, r) for f, r in _reads(snap) if f.role == "server" and r.name not in _RUNTIME_VARS]
    if not reads:
        return
    names = sorted({r.name for _, r in reads})
    file, read = reads[0]
    yield CodeIssue(
        file=file.path,
        line=read.line,
        detail=f"{len(names)} variable(s) read in server code with no schema validation",
        fix="Validate the environment at startup (zod `z.object({...}).parse(process.env)`, "
        "envalid `cleanEnv`, pydantic-settings `BaseSettings`) and import the parsed object.",
        evidence={"var": read.name, "vars": names[:20], "reads": len(reads)},
        ident="repository",
    )


@code_check(
    "service_key_in_frontend",
    title="Service or secret key read through a public env prefix or in browser code",
    category=Category.SECURITY,
    severity=Severity.CRITICAL,
)
def service_key_in_frontend(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """A variable named like a secret (SUPABASE_SERVICE_ROLE_KEY, STRIPE_SECRET_KEY,
    DATABASE_URL...) with a public prefix (NEXT_PUBLIC_, VITE_, REACT_APP_, EXPO_PUBLIC_)
    is inlined into the JavaScript bundle at build time; read from a 'use client' module it
    is meant for the browser. With the service_role key anyone bypasses RLS. Keep the key
    server-side (no public prefix), call it from an API route or server action, and rotate
    it if a bundle with it was ever deployed."""
    for file in snap.files:
        if file.role == "test":
            continue
        for read in file.env_reads:
            public = is_public_env(read.name)
            if _SECRET_NAME.search(read.name) and (public or file.role in FRONTEND_ROLES):
                how = "public prefix" if public else f"{file.role} code"
                yield _issue(file.path, read.line, read.name, how)
        for var in file.env_vars:
            if is_public_env(var.name) and _SECRET_NAME.search(var.name):
                yield _issue(file.path, var.line, var.name, "public prefix in a dotenv file")


def _issue(path: str, line: int, name: str, how: str) -> CodeIssue:
    return CodeIssue(
        file=path,
        line=line,
        detail=f"{name} ({how}) ends up in the browser bundle",
        fix="Drop the public prefix, read the key only in server code, and rotate it.",
        evidence={"var": name, "exposure": how},
        ident=name,
    )
