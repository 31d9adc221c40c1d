"""README's check table is generated from the registry and must not drift from it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "update_readme_checks.py"


def test_readme_check_table_matches_the_catalog() -> None:
    spec = importlib.util.spec_from_file_location("update_readme_checks", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.README.read_text()
    assert module.expected_section() in text, "run scripts/update_readme_checks.py"
    assert module.expected_lint_section() in text, "run scripts/update_readme_checks.py"
    assert module.updated(text) == text
