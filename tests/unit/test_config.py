"""prodready.toml parsing: options, disabled checks, suppressions, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodready.config import load_config
from prodready.errors import UsageError


def write(tmp_path: Path, text: str, name: str = "prodready.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_options_disabled_and_suppressions(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [checks.unused_index]
        min_stats_age_days = 14
        [checks.slow_query]
        enabled = false
        [[suppress]]
        key = "unused_index:public.x"
        reason = "monthly report"
        """,
    )
    config = load_config(cwd=tmp_path)
    assert config.options["unused_index"] == {"min_stats_age_days": 14}
    assert config.disabled == {"slow_query"}
    assert config.suppressions == {"unused_index:public.x": "monthly report"}
    assert config.source == tmp_path / "prodready.toml"


def test_pyproject_section_is_used_when_no_toml(tmp_path: Path) -> None:
    write(tmp_path, "[tool.prodready.checks.slow_query]\nenabled = false\n", "pyproject.toml")
    assert load_config(cwd=tmp_path).disabled == {"slow_query"}


def test_no_config_means_defaults(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert config.options == {} and config.suppressions == {} and config.source is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[checks\n", "malformed config"),
        ("[checks.nope]\n", "unknown check 'nope'"),
        ("[checks.unused_index]\nbogus = 1\n", "unknown option 'bogus' for unused_index"),
        ("[checks.unused_index]\nenabled = 'no'\n", "enabled must be true or false"),
        ("[checks.unused_index]\nmin_stats_age_days = 'x'\n", "must be"),
        ('[[suppress]]\nkey = "a"\n', "needs a key and a reason"),
    ],
)
def test_errors_are_one_clear_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message):
        load_config(path)


def test_missing_explicit_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_source_scan_checks_are_configured_like_the_others(tmp_path: Path) -> None:
    """[checks.<id>] reaches the scan's own registry: a disabled code check does not run."""
    from prodready.code.scan import scan

    repo = tmp_path / "repo"
    (repo / "server").mkdir(parents=True)
    (repo / "server" / "app.py").write_text("rows = db.execute('SELECT * FROM users')\n")
    config = load_config(write(tmp_path, "[checks.select_star]\nenabled = false\n"))
    assert config.disabled == {"select_star"}
    assert "select_star" not in {f.finding.check for f in scan(repo, config=config).run.findings}
    assert "select_star" in {f.finding.check for f in scan(repo).run.findings}
