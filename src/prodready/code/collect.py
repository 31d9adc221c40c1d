"""Collect a CodeSnapshot: walk the tree, learn the project, read each file's facts.

The only part of the source scan that touches the file system. Files are analysed in
parallel (one process per core) once there are enough of them to pay for the start-up.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from prodready.code.js import js_facts
from prodready.code.py import py_facts
from prodready.code.roles import language_of, role_of
from prodready.code.secrets import find_secrets
from prodready.code.snapshot import CodeSnapshot, EnvVar, Project, SecretFact, Skip, SourceFile
from prodready.code.walk import Skipped, TextFile, list_files, read_file

PARALLEL_FROM = 400  # files; below this a process pool costs more than it saves
_ALLOW = re.compile(r"prodready:\s*allow-secret|pragma:\s*allowlist[ -]secret", re.IGNORECASE)
_DOTENV = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$")
FRAMEWORKS = {
    "next": "next", "vite": "vite", "react-scripts": "create-react-app", "express": "express",
    "fastify": "fastify", "koa": "koa", "hono": "hono", "@nestjs/core": "nest",
    "@sveltejs/kit": "sveltekit", "nuxt": "nuxt", "fastapi": "fastapi", "django": "django",
    "flask": "flask", "starlette": "starlette", "@remix-run/node": "remix",
}  # fmt: skip


def collect(root: Path, *, workers: int | None = None) -> CodeSnapshot:
    """Read `root` (a directory or one file) into a snapshot.

    Workers read their own files, so the texts never sit in memory all at once."""
    listing = list_files(root)
    project = _project(listing.base, listing.candidates, listing.dirs)
    jobs = [(listing.base, path, tracked, project) for path, tracked in listing.candidates]
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    if count > 1 and len(jobs) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=count) as pool:
            results = list(pool.map(_analyse_job, jobs, chunksize=64))
    else:
        results = [_analyse_job(job) for job in jobs]
    files = [r for r in results if isinstance(r, SourceFile)]
    skipped = [Skip(s.path, s.reason) for s in listing.skipped]
    skipped += [r for r in results if isinstance(r, Skip)]
    skipped.sort(key=lambda s: s.path)
    return CodeSnapshot(str(root), listing.git, project, files, skipped)


def _analyse_job(job: tuple[Path, str, bool | None, Project]) -> SourceFile | Skip:
    base, path, tracked, project = job
    read = read_file(base, path, tracked)
    if isinstance(read, Skipped):
        return Skip(read.path, read.reason)
    return analyse(read, project)


def analyse(file: TextFile, project: Project) -> SourceFile:
    """One file's facts: its role, its secrets, and what its parser finds."""
    language = language_of(file.path)
    facts: dict[str, Any] = {}
    if language in ("javascript", "typescript", "tsx"):
        facts = vars(js_facts(file.text, language))
    elif language == "python":
        facts = vars(py_facts(file.text))
    elif language == "dotenv":
        facts = {"env_vars": _dotenv(file.text)}
    reads = [r.name for r in facts.get("env_reads", [])]
    return SourceFile(
        path=file.path,
        language=language,
        role=role_of(file.path, file.text, language, project, reads),
        lines=file.text.count("\n") + 1,
        tracked=file.tracked,
        secrets=_secrets(file.text),
        **facts,
    )


def _secrets(text: str) -> list[SecretFact]:
    hits = find_secrets(text)
    if not hits:
        return []
    lines = text.splitlines()

    def allowed(line: int) -> bool:
        here = lines[line - 1] if line - 1 < len(lines) else ""
        above = lines[line - 2] if line >= 2 else ""
        return bool(_ALLOW.search(here) or _ALLOW.search(above))

    return [
        SecretFact(h.line, h.kind, h.severity.label, h.preview, h.fingerprint, allowed(h.line))
        for h in hits
    ]


def _dotenv(text: str) -> list[EnvVar]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _DOTENV.match(line)
        if match and not line.lstrip().startswith("#"):
            value = match.group(2).split(" #")[0].strip().strip("'\"")
            out.append(EnvVar(number, match.group(1), bool(value)))
    return out


# -- the project: dependencies, scripts, frameworks --


def _project(base: Path, candidates: list[tuple[str, bool | None]], dirs: list[str]) -> Project:
    deps: set[str] = set()
    scripts: dict[str, str] = {}
    for path, tracked in candidates:
        name = path.rpartition("/")[2]
        manifest = name in ("package.json", "pyproject.toml") or (
            name.startswith("requirements") and name.endswith((".txt", ".in"))
        )
        if not manifest:
            continue
        read = read_file(base, path, tracked)
        if not isinstance(read, TextFile):
            continue
        if name == "package.json":
            _package_json(read.text, deps, scripts)
        elif name == "pyproject.toml":
            deps |= _pyproject(read.text)
        else:
            deps |= _requirements(read.text)
    frameworks = sorted({fw for dep, fw in FRAMEWORKS.items() if dep in deps})
    return Project(sorted(deps), scripts, dirs, frameworks)


def _package_json(text: str, deps: set[str], scripts: dict[str, str]) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    for key in ("dependencies", "devDependencies", "peerDependencies"):
        section = data.get(key)
        if isinstance(section, dict):
            deps.update(str(name) for name in section)
    section = data.get("scripts")
    if isinstance(section, dict):
        scripts.update({str(k): str(v) for k, v in section.items()})


def _pyproject(text: str) -> set[str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return set()
    project = data.get("project", {})
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    names = {_requirement_name(s) for s in specs if isinstance(s, str)}
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    names |= {str(k).lower() for k in poetry}
    return {n for n in names if n}


def _requirements(text: str) -> set[str]:
    names = {_requirement_name(line) for line in text.splitlines()}
    return {n for n in names if n}


def _requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return match.group(1).lower().replace("_", "-") if match and not spec.startswith("-") else ""
