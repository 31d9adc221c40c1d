"""The dashboard against a real database: headless Chromium, /metrics, going down and back."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prodready.serve import Dashboard, ServeOptions
from tests.conftest import TestDatabase

REFRESH_S = 0.5
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def dashboard(db: TestDatabase) -> Iterator[Dashboard]:
    db.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, amount int)")
    db.execute("INSERT INTO orders (amount) SELECT g FROM generate_series(1, 5000) g")
    server = Dashboard(
        ServeOptions(dsn=db.dsn, port=0, refresh_s=REFRESH_S, token="t0ken", audit_every_s=3600)
    ).start()
    wait_for(lambda: state(server).get("connections") is not None)
    yield server
    server.stop()


def get(server: Dashboard, path: str, token: str | None = "t0ken") -> tuple[int, str]:
    url = server.url.rstrip("/") + path
    if token:
        url += ("&" if "?" in url else "?") + f"token={token}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def state(server: Dashboard) -> dict:  # type: ignore[type-arg]
    return json.loads(get(server, "/api/state")[1])


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def workload(db: TestDatabase, rounds: int = 200) -> None:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        for i in range(rounds):
            conn.execute("SELECT sum(amount) FROM orders WHERE id > %s", (i,))


def test_token_is_required_except_for_healthz(dashboard: Dashboard) -> None:
    assert get(dashboard, "/", token=None)[0] == 401
    assert get(dashboard, "/metrics", token="wrong")[0] == 401
    status, body = get(dashboard, "/healthz", token=None)
    assert status == 200 and json.loads(body) == {"status": "ok", "database": "up"}


def test_metrics_parse_with_postgres_exporter_names(dashboard: Dashboard, db: TestDatabase) -> None:
    wait_for(lambda: state(dashboard).get("readiness") is not None)
    status, text = get(dashboard, "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "pg_up",
        "pg_stat_database_xact_commit",
        "pg_stat_activity_count",
        "pg_settings_max_connections",
        "prodready_readiness_score",
        "prodready_findings",
    ):
        assert name in families, name  # fmt: skip
    assert families["pg_up"].samples[0].value == 1.0
    datnames = {s.labels["datname"] for s in families["pg_stat_database_xact_commit"].samples}
    assert db.name in datnames
    assert 0 <= families["prodready_readiness_score"].samples[0].value <= 10


def test_statement_deltas_and_refresh_cost(dashboard: Dashboard, db: TestDatabase) -> None:
    workload(db)
    wait_for(lambda: any("orders" in s["query"] for s in state(dashboard)["statements"]))
    data = state(dashboard)
    top = next(s for s in data["statements"] if "orders" in s["query"])
    assert 0 < top["calls"] <= 200  # a delta between refreshes, not a lifetime total
    assert data["refresh_cost"]["queries"] >= 8
    assert data["connections"]["max"] > 0


def test_one_monitoring_connection(dashboard: Dashboard, db: TestDatabase) -> None:
    rows = db.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'prodready' "
        "AND datname = current_database()"
    )
    assert rows == [(1,)]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_chromium_shows_live_values(
    dashboard: Dashboard, db: TestDatabase, tmp_path: Path
) -> None:
    first = chromium_dom(dashboard, tmp_path / "a")
    assert 'id="live"' in first and "Top statements" in first
    assert "updated " in first  # the page's script fetched and swapped in a new fragment
    idle = [psycopg.connect(db.dsn) for _ in range(3)]
    try:
        workload(db, 50)
        before = int(dom_value(first, "conn-total"))
        wait_for(lambda: state(dashboard)["connections"]["total"] >= before + 3)
        second = chromium_dom(dashboard, tmp_path / "b")
    finally:
        for conn in idle:
            conn.close()
    assert dom_value(second, "read-at") != dom_value(first, "read-at")
    assert int(dom_value(second, "conn-total")) >= before + 3


def chromium_dom(server: Dashboard, profile: Path) -> str:
    """The DOM after the page's own refresh ran (virtual time lets its timer fire)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}",
         f"--virtual-time-budget={int(REFRESH_S * 1000 * 3)}", "--dump-dom",
         server.url + "?token=t0ken"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom_value(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match, f"#{element_id} not in the page"
    return match.group(1).strip()


def test_database_going_away_shows_down_and_recovers(
    dashboard: Dashboard, db: TestDatabase
) -> None:
    admin = psycopg.connect(db.cluster.dsn(), autocommit=True)
    try:
        admin.execute(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'prodready' AND datname = %s",
            (db.name,),
        )
        wait_for(lambda: not state(dashboard)["up"])
        assert 'id="down"' in get(dashboard, "/fragment")[1]
        assert get(dashboard, "/healthz", token=None)[1] == '{"status": "ok", "database": "down"}'
        families = {
            f.name: f for f in text_string_to_metric_families(get(dashboard, "/metrics")[1])
        }
        assert families["pg_up"].samples[0].value == 0.0
    finally:
        admin.execute(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS true')
        admin.close()
    wait_for(lambda: state(dashboard)["up"])
