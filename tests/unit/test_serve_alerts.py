"""Alert rules: a valid Prometheus rule file, thresholds shared with the dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from prodready.serve.alerts import render_rules, rules
from prodready.serve.metrics import DashboardCollector
from prodready.serve.thresholds import DEFAULT, Thresholds

EXPECTED = {
    "PostgresDown", "PostgresStatementP95High", "PostgresConnectionsHigh",
    "PostgresIdleInTransaction", "PostgresReplicationLag", "PostgresWraparoundApproaching",
    "PostgresWalArchivingFailing", "PostgresBackupDrillTooOld", "PostgresReadinessScoreDropped",
}  # fmt: skip


def test_prometheus_rule_file_parses() -> None:
    doc = yaml.safe_load(render_rules("prometheus"))
    [group] = doc["groups"]
    assert group["name"] == "prodready"
    assert {r["alert"] for r in group["rules"]} == EXPECTED
    for rule in group["rules"]:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in ("critical", "warning")


def test_json_rules_match_the_yaml() -> None:
    assert (
        json.loads(render_rules("json"))
        == yaml.safe_load(render_rules("prometheus"))["groups"][0]["rules"]
    )


def test_rules_follow_the_dashboard_thresholds() -> None:
    exprs = {
        r.alert: r.expr for r in rules(Thresholds(connections_percent=90, statement_p95_ms=500))
    }
    assert exprs["PostgresConnectionsHigh"].endswith("> 0.9")
    assert exprs["PostgresStatementP95High"].endswith("> 0.5")
    assert (
        f"> {DEFAULT.statement_p95_ms / 1000:g}"
        in {r.alert: r.expr for r in rules()}["PostgresStatementP95High"]
    )


def test_rules_only_query_metrics_serve_exposes() -> None:
    import inspect
    import re

    source = inspect.getsource(DashboardCollector)
    for rule in rules():
        for name in re.findall(r"\b((?:pg|prodready)_[a-z0-9_]+)", rule.expr):
            assert (
                f'"{name}"' in source
                or f'f"{name}' in source
                or name.startswith("pg_stat_database_")
            ), name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(render_rules("prometheus"))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
