"""Baseline files: saved and loaded intact; anything malformed or foreign is one usage error."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prodready.errors import UsageError
from prodready.verify import load_baseline, save_baseline
from tests.unit.test_verify_model import sample_baseline


def test_save_and_load(tmp_path: Path) -> None:
    baseline = sample_baseline()
    path = save_baseline(baseline, tmp_path / "baseline.json")
    assert load_baseline(path) == baseline
    assert json.loads(path.read_text())["kind"] == "verify-baseline"


def test_an_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write baseline"):
        save_baseline(sample_baseline(), tmp_path / "missing" / "baseline.json")


def load_error(path: Path) -> str:
    with pytest.raises(UsageError) as error:
        load_baseline(path)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.json") == f"baseline file not found: {tmp_path}/nope.json"
    assert load_error(tmp_path) == f"baseline file not a file: {tmp_path}"


def test_invalid_json_and_binary(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"tool": "prodready",\n  "kind": ')
    assert load_error(path) == f"{path}: not a prodready verify baseline (invalid JSON at line 2)"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert load_error(path) == f"{path}: not a prodready verify baseline (not UTF-8 text)"


def _data() -> dict[str, Any]:
    return copy.deepcopy(sample_baseline().to_json())


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("tool", "squawk"),
            "not a prodready verify baseline (expected kind 'verify-baseline')",
        ),
        (
            _set("kind", "audit"),
            "not a prodready verify baseline (expected kind 'verify-baseline')",
        ),
        (_set("schema", 2), "baseline schema 2 is newer than this prodready reads (1): upgrade"),
        (_set("schema", "1"), "malformed verify baseline: schema must be an integer"),
        (_set("statements", {}), "malformed verify baseline: statements must be a list"),
        (_drop("options"), "malformed verify baseline: options must be an object"),
        (
            _set("options.runs", 0),
            "malformed verify baseline: options.runs must be an integer >= 1",
        ),
        (
            _drop("statements.0.sql"),
            "malformed verify baseline: statements[0].sql must be a non-empty string",
        ),
        (
            _set("statements.0.calls", "many"),
            "malformed verify baseline: statements[0].calls must be a number",
        ),
        (
            _set("statements.0.status", "great"),
            "malformed verify baseline: statements[0].status must be one of measured, skipped,"
            " failed",
        ),
        (
            _set("statements.0.measurement", None),
            "malformed verify baseline: statements[0] is measured but has no measurement",
        ),
        (
            _set("statements.0.measurement.runs_ms", []),
            "malformed verify baseline: statements[0].measurement.runs_ms must be a non-empty"
            " list of numbers",
        ),
        (
            _set("statements.0.settings", {"a": 1}),
            "malformed verify baseline: statements[0].settings values must be strings",
        ),
        (
            _set("statements.1.id", "a1"),
            "malformed verify baseline: statement ids are not unique",
        ),
        (
            _set("unrunnable", [{"query": "x"}]),
            "malformed verify baseline: unrunnable[0].reason must be a non-empty string",
        ),
    ],
)
def test_malformed_or_foreign_content(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = _data()
    change(data)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    assert load_error(path) == f"{path}: {message}"


@pytest.mark.parametrize("content", ["[]", "null", '"baseline"', "42"])
def test_json_that_is_not_an_object(tmp_path: Path, content: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    assert load_error(path).endswith(
        "not a prodready verify baseline (expected kind 'verify-baseline')"
    )
