"""What a file is: its language, and whether it runs on the server, in the browser, or not
in production at all (tests, scripts). Hygiene checks judge server code only; a secret in
browser code is public."""

from __future__ import annotations

import re

from prodready.code.snapshot import Project

_LANGUAGES = {
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".py": "python",
}  # fmt: skip
_BROWSER_SUFFIXES = (".html", ".htm", ".vue", ".svelte", ".astro")
_TEST_DIRS = frozenset({
    "test", "tests", "__tests__", "spec", "specs", "e2e", "cypress", "playwright", "__mocks__",
    "testing", "fixtures",
})  # fmt: skip
_TEST_NAME = re.compile(r"^(?:test_.*\.py|.*_test\.py|conftest\.py|.*\.(?:test|spec|e2e)\.\w+)$")
_SCRIPT_DIRS = frozenset({
    "scripts", "script", "bin", "tools", "seed", "seeds", "bench", "benchmark", "benchmarks",
    "cli", "commands",  # command-line entry points, Django management commands
})  # fmt: skip
_SCRIPT_NAMES = frozenset({"manage.py", "setup.py", "cli.py", "noxfile.py", "fabfile.py"})
_STATIC_DIRS = frozenset({"public", "static", "assets", "www"})
_USE_CLIENT = re.compile(r"^(?:\s*(?://[^\n]*|/\*.*?\*/))*\s*['\"]use client['\"]", re.DOTALL)
_SERVER_FRAMEWORKS = frozenset({"express", "fastify", "koa", "hono", "nest"})
_PUBLIC_PREFIXES = ("NEXT_PUBLIC_", "VITE_", "REACT_APP_", "EXPO_PUBLIC_", "NUXT_PUBLIC_")
FRONTEND_ROLES = frozenset({"client", "static"})


def language_of(path: str) -> str:
    name = path.rpartition("/")[2]
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return "dotenv"
    dot = name.rfind(".")
    return _LANGUAGES.get(name[dot:].lower(), "text") if dot > 0 else "text"


def is_public_env(name: str) -> bool:
    return name.startswith(_PUBLIC_PREFIXES)


def role_of(path: str, text: str, language: str, project: Project, env_reads: list[str]) -> str:
    """server, client, static, test, script, config or other."""
    parts = path.lower().split("/")
    name = parts[-1]
    if _TEST_NAME.match(name) or any(p in _TEST_DIRS for p in parts[:-1]):
        return "test"
    if name in _SCRIPT_NAMES or any(p in _SCRIPT_DIRS for p in parts[:-1]):
        return "script"
    if language == "dotenv":
        return "config"
    if parts[0] in _STATIC_DIRS and len(parts) > 1:
        return "static"
    if name.endswith(_BROWSER_SUFFIXES):
        return "client"
    if language == "python":
        return "server"
    if language not in ("javascript", "typescript", "tsx"):
        return "other"
    return _js_role(parts, text, project, env_reads)


def _js_role(parts: list[str], text: str, project: Project, env_reads: list[str]) -> str:
    if _USE_CLIENT.match(text[:2000]):
        return "client"
    name = parts[-1]
    dirs = parts[:-1]
    frameworks = set(project.frameworks)
    if name.startswith(("route.", "middleware.", "instrumentation.")) or ".server." in name:
        return "server"
    if "api" in dirs or "server" in dirs or "actions" in dirs:
        return "server"
    if text.lstrip().startswith(("'use server'", '"use server"')):
        return "server"
    if any(p in ("components", "hooks") for p in dirs) and frameworks & {"next", "vite"}:
        return "client"
    if "next" in frameworks and any(p in ("app", "pages") for p in dirs):
        return "client"
    served_by_vite = frameworks & {"vite", "create-react-app"} and not (
        frameworks & _SERVER_FRAMEWORKS
    )
    if served_by_vite and "src" in dirs:
        return "client"
    if any(r.startswith("VITE_") for r in env_reads) and "import.meta.env" in text:
        return "client"
    return "server"
