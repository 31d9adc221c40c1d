"""prodready.toml (or [tool.prodready] in pyproject.toml): check options and suppressions.

[checks.unused_index]
min_size_bytes = 1048576       # a check's threshold
[checks.slow_query]
enabled = false                # turn a check off

[[suppress]]
key = "unused_index:public.orders_legacy_idx"
reason = "used by the month-end report"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from prodready import registry
from prodready.errors import UsageError
from prodready.model import Config

__all__ = ["CONFIG_FILE", "Config", "load_config"]

CONFIG_FILE = "prodready.toml"


def load_config(path: Path | None = None, cwd: Path | None = None) -> Config:
    """Read the named file, else ./prodready.toml, else [tool.prodready] in ./pyproject.toml."""
    if path is not None:
        return _parse(_read(path), path)
    here = cwd or Path.cwd()
    if (here / CONFIG_FILE).exists():
        return _parse(_read(here / CONFIG_FILE), here / CONFIG_FILE)
    pyproject = here / "pyproject.toml"
    if pyproject.exists():
        section = _read(pyproject).get("tool", {}).get("prodready")
        if isinstance(section, dict):
            return _parse(section, pyproject)
    return Config()


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"malformed config {path}: {exc}") from None


def _code_check(check_id: str) -> Any:
    """A source-scan check (its own registry), so [checks.<id>] can tune or disable it too."""
    from prodready.code.registry import code_catalog

    return next((c for c in code_catalog() if c.info.id == check_id), None)


def _parse(data: dict[str, Any], source: Path) -> Config:
    config = Config(source=source)
    checks = data.get("checks", {})
    if not isinstance(checks, dict):
        raise UsageError(f"{source}: [checks] must be a table")
    for check_id, values in checks.items():
        registered = registry.get(check_id) or _code_check(check_id)
        if registered is None:
            raise UsageError(f"{source}: unknown check {check_id!r} (see `prodready checks`)")
        if not isinstance(values, dict):
            raise UsageError(f"{source}: [checks.{check_id}] must be a table")
        values = dict(values)
        enabled = values.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise UsageError(f"{source}: checks.{check_id}.enabled must be true or false")
        if not enabled:
            config.disabled.add(check_id)
        known = registered.info.options
        for name, value in values.items():
            if name not in known:
                names = ", ".join(sorted(known)) or "none"
                raise UsageError(
                    f"{source}: unknown option {name!r} for {check_id} (known: {names})"
                )
            if not isinstance(value, type(known[name])) and not (
                isinstance(known[name], float) and isinstance(value, int)
            ):
                raise UsageError(
                    f"{source}: checks.{check_id}.{name} must be {type(known[name]).__name__}"
                )
        config.options[check_id] = values
    suppress = data.get("suppress", [])
    if not isinstance(suppress, list):
        raise UsageError(f"{source}: [[suppress]] must be an array of tables")
    for entry in suppress:
        if not isinstance(entry, dict) or not entry.get("key") or not entry.get("reason"):
            raise UsageError(f"{source}: every [[suppress]] needs a key and a reason")
        config.suppressions[str(entry["key"])] = str(entry["reason"])
    return config
