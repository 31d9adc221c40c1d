"""Scenario files (TOML): weighted endpoints, template variables, stages and thresholds.

Every problem in a file is reported with its line, so a person can fix it without guessing.
"""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodready.errors import UsageError
from prodready.load.profiles import PROFILES, profile_stages

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_Where = tuple[str | None, int]  # the [[table]] and its index a key lives in, for line numbers
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Stage:
    """`duration` seconds at `rate` req/s, ramping linearly from `start_rate` when it differs."""

    duration: float
    rate: float
    start_rate: float | None = None

    @property
    def begin_rate(self) -> float:
        return self.rate if self.start_rate is None else self.start_rate

    @property
    def requests(self) -> float:
        return (self.begin_rate + self.rate) / 2 * self.duration


@dataclass(frozen=True)
class Endpoint:
    """One weighted request; `${name}` in path, headers and body takes a random value of `name`."""

    name: str
    path: str
    method: str = "GET"
    weight: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def templated(self) -> bool:
        parts = [self.path, self.body or "", *self.headers.values()]
        return any(TEMPLATE.search(part) for part in parts)


@dataclass(frozen=True)
class Scenario:
    """What to send, how fast, and what counts as passing."""

    name: str
    endpoints: tuple[Endpoint, ...]
    stages: tuple[Stage, ...]
    thresholds: tuple[str, ...] = ()
    variables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timeout_s: float = 10.0
    connections: int = 256

    @property
    def duration(self) -> float:
        return sum(stage.duration for stage in self.stages)

    @property
    def total_requests(self) -> int:
        return round(sum(stage.requests for stage in self.stages))

    @property
    def peak_rate(self) -> float:
        return max((max(s.rate, s.begin_rate) for s in self.stages), default=0.0)


def parse_duration(value: object, what: str = "duration") -> float:
    """`30s`, `5m`, `500ms`, `1h` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be like 30s, 5m or 500ms, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{what} must be like 30s, 5m or 500ms, not {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{what} must be positive, not {value!r}")
    return seconds


def load_scenario(spec: str | None, *, default_path: str = "/") -> Scenario:
    """A built-in profile by name (one endpoint: the URL itself) or a scenario file."""
    name = spec or "smoke"
    if name in PROFILES:
        endpoint = Endpoint(name=f"GET {default_path}", path="/")
        return Scenario(name=name, endpoints=(endpoint,), stages=profile_stages(name))
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        profiles = ", ".join(PROFILES)
        raise UsageError(f"no scenario file {name} (built-in profiles: {profiles})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read scenario {name}: {exc}") from None
    return parse_scenario(text, path, default_path=default_path)


def parse_scenario(text: str, path: Path, *, default_path: str = "/") -> Scenario:
    """Parse a scenario file's text; every error names the file and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: malformed TOML: {exc}") from None
    return _Parser(text, path).scenario(data, default_path)


class _Parser:
    """Turns parsed TOML into a Scenario; `fail` finds the line of the offending key."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def fail(self, message: str, key: str, where: _Where = (None, 0)) -> UsageError:
        line = _locate(self.lines, key, *where)
        place = f"{self.path}:{line}" if line else str(self.path)
        return UsageError(f"{place}: {message}")

    def scenario(self, data: dict[str, Any], default_path: str) -> Scenario:
        known = {"name", "profile", "rate", "duration", "timeout", "connections", "stages",
                 "endpoints", "thresholds", "vars"}  # fmt: skip
        for key in data:
            if key not in known:
                raise self.fail(
                    f"unknown key {key!r} (expected one of: {', '.join(sorted(known))})", key
                )
        variables = self.variables(data.get("vars", {}))
        endpoints = self.endpoints(data.get("endpoints"), default_path, variables)
        return Scenario(
            name=str(data.get("name") or self.path.stem),
            endpoints=endpoints,
            stages=self.stages(data),
            thresholds=self.thresholds(data.get("thresholds", [])),
            variables=variables,
            timeout_s=self.duration(data, "timeout", 10.0),
            connections=self.positive_int(data, "connections", 256),
        )

    def duration(
        self, data: dict[str, Any], key: str, default: float, where: _Where = (None, 0)
    ) -> float:
        if key not in data:
            return default
        try:
            return parse_duration(data[key], key)
        except ValueError as exc:
            raise self.fail(str(exc), key, where) from None

    def positive_int(self, data: dict[str, Any], key: str, default: int) -> int:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(f"{key} must be a positive integer, not {value!r}", key)
        return value

    def rate(self, data: dict[str, Any], key: str, where: _Where = (None, 0)) -> float:
        value = data[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.fail(
                f"{key} must be a number of requests per second, not {value!r}", key, where
            )
        return float(value)

    def stages(self, data: dict[str, Any]) -> tuple[Stage, ...]:
        if "stages" in data:
            if "profile" in data:
                raise self.fail("give either stages or a profile, not both", "profile")
            raw = data["stages"]
            if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
                raise self.fail("stages must be one or more [[stages]] tables", "stages")
            return tuple(self.stage(s, i) for i, s in enumerate(raw))
        profile = str(data.get("profile", "smoke"))
        if profile not in PROFILES:
            raise self.fail(
                f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})", "profile"
            )
        rate = self.rate(data, "rate") if "rate" in data else None
        duration = self.duration(data, "duration", 0.0) or None
        return profile_stages(profile, rate=rate, duration=duration)

    def stage(self, raw: dict[str, Any], index: int) -> Stage:
        where: _Where = ("stages", index)
        for key in raw:
            if key not in ("duration", "rate", "start_rate"):
                raise self.fail(
                    f"unknown stage key {key!r} (expected duration, rate, start_rate)", key, where
                )
        for key in ("duration", "rate"):
            if key not in raw:
                raise self.fail(f"stage {index + 1} needs {key}", "stages", where)
        start = self.rate(raw, "start_rate", where) if "start_rate" in raw else None
        return Stage(
            self.duration(raw, "duration", 0.0, where), self.rate(raw, "rate", where), start
        )

    def endpoints(
        self, raw: Any, default_path: str, variables: dict[str, tuple[str, ...]]
    ) -> tuple[Endpoint, ...]:
        if raw is None:
            return (Endpoint(name=f"GET {default_path}", path="/"),)
        if not isinstance(raw, list) or not raw or not all(isinstance(e, dict) for e in raw):
            raise self.fail("endpoints must be one or more [[endpoints]] tables", "endpoints")
        result = tuple(self.endpoint(e, i, variables) for i, e in enumerate(raw))
        names = [e.name for e in result]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise self.fail(f"two endpoints are named {name!r}", "name", ("endpoints", i))
        return result

    def endpoint(
        self, raw: dict[str, Any], index: int, variables: dict[str, tuple[str, ...]]
    ) -> Endpoint:
        where: _Where = ("endpoints", index)
        known = ("name", "path", "method", "weight", "headers", "body")
        for key in raw:
            if key not in known:
                raise self.fail(
                    f"unknown endpoint key {key!r} (expected one of: {', '.join(known)})",
                    key,
                    where,
                )
        path = raw.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise self.fail(
                f"endpoint {index + 1} needs a path starting with / (got {path!r})",
                "path" if "path" in raw else "endpoints",
                where,
            )
        method = str(raw.get("method", "GET")).upper()
        if method not in METHODS:
            raise self.fail(
                f"unknown method {raw['method']!r} (expected one of: {', '.join(METHODS)})",
                "method",
                where,
            )
        weight = raw.get("weight", 1)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise self.fail(f"weight must be a positive number, not {weight!r}", "weight", where)
        headers = raw.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise self.fail("headers must be a table of strings", "headers", where)
        body = raw.get("body")
        if body is not None and not isinstance(body, str):
            raise self.fail("body must be a string", "body", where)
        endpoint = Endpoint(
            name=str(raw.get("name") or f"{method} {path}"),
            path=path,
            method=method,
            weight=float(weight),
            headers={str(k): v for k, v in headers.items()},
            body=body,
        )
        for part, key in (
            (path, "path"),
            (body or "", "body"),
            *((v, "headers") for v in headers.values()),
        ):
            for var in TEMPLATE.findall(part):
                if var not in variables:
                    raise self.fail(f"${{{var}}} is not defined under [vars]", key, where)
        return endpoint

    def variables(self, raw: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(raw, dict):
            raise self.fail("vars must be a table", "vars")
        return {name: self.values(name, spec) for name, spec in raw.items()}

    def values(self, name: str, spec: Any) -> tuple[str, ...]:
        where: _Where = ("vars", 0)
        if isinstance(spec, list) and spec and all(isinstance(v, str | int | float) for v in spec):
            return tuple(str(v) for v in spec)
        if isinstance(spec, dict) and "csv" in spec:
            return self.csv_values(name, spec)
        if isinstance(spec, dict) and "range" in spec:
            bounds = spec["range"]
            if (
                isinstance(bounds, list)
                and len(bounds) == 2
                and all(isinstance(b, int) for b in bounds)
                and bounds[0] <= bounds[1]
                and bounds[1] - bounds[0] < 10_000_000
            ):
                return tuple(str(i) for i in range(bounds[0], bounds[1] + 1))
            raise self.fail(f"{name}: range must be [low, high] integers", name, where)
        raise self.fail(
            f'{name} must be a non-empty list, {{ csv = "file.csv", column = "id" }} '
            "or { range = [1, 1000] }",
            name,
            where,
        )

    def csv_values(self, name: str, spec: dict[str, Any]) -> tuple[str, ...]:
        file = self.path.parent / str(spec["csv"])
        column = spec.get("column")
        try:
            with file.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle)) if column else list(csv.reader(handle))
        except OSError as exc:
            raise self.fail(
                f"{name}: cannot read {file}: {exc.strerror}", name, ("vars", 0)
            ) from None
        if column:
            values = [row.get(str(column)) for row in rows if isinstance(row, dict)]
            if rows and values[0] is None:
                raise self.fail(f"{name}: {file} has no column {column!r}", name, ("vars", 0))
        else:
            values = [row[0] for row in rows if row]
        cleaned = tuple(v for v in values if v)
        if not cleaned:
            raise self.fail(f"{name}: {file} has no values", name, ("vars", 0))
        return cleaned

    def thresholds(self, raw: Any) -> tuple[str, ...]:
        from prodready.load.thresholds import parse_threshold

        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
            raise self.fail('thresholds must be a list of strings like "p95<500ms"', "thresholds")
        for index, expr in enumerate(raw):
            try:
                parse_threshold(expr)
            except UsageError as exc:
                line = _locate_text(self.lines, expr) or _locate(self.lines, "thresholds", None, 0)
                place = f"{self.path}:{line}" if line else str(self.path)
                raise UsageError(f"{place}: threshold {index + 1}: {exc}") from None
        return tuple(raw)


def _locate(lines: list[str], key: str, table: str | None, index: int) -> int | None:
    """The 1-based line of `key` (inside the `index`-th [[table]] when given), else the table's."""
    start, end = 0, len(lines)
    if table is not None:
        headers = [i for i, line in enumerate(lines) if _header(line) in (table, f"[{table}]")]
        if index < len(headers):
            start = headers[index]
            following = [i for i, line in enumerate(lines) if i > start and _header(line)]
            end = following[0] if following else len(lines)
    else:  # top-level keys live before the first table header
        following = [i for i, line in enumerate(lines) if _header(line)]
        end = following[0] if following else len(lines)
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(start, end):
        if pattern.match(lines[i]):
            return i + 1
    if table is not None and start < len(lines) and _header(lines[start]):
        return start + 1
    headers = [i for i, line in enumerate(lines) if _header(line) in (key, f"[{key}]")]
    return headers[0] + 1 if headers else None


def _locate_text(lines: list[str], text: str) -> int | None:
    for i, line in enumerate(lines):
        if text in line:
            return i + 1
    return None


def _header(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith("[") and "]" in stripped:
        return stripped[1 : stripped.rindex("]")].strip()
    return None
