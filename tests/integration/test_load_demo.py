"""The demo's HTTP API serves the marketplace, and the demo's smoke load measures it, with
`--db` sampling the same database: the statements under load are the API's queries."""

from __future__ import annotations

import json
import urllib.request

import psycopg
import pytest

from prodready.demo import smoke
from prodready.demo.api import running_api
from prodready.demo.data import Scale, load_data, load_schema
from prodready.load import LoadOptions, run_load
from tests.conftest import TestDatabase

SCALE = 0.01


@pytest.fixture(scope="module")
def marketplace(db: TestDatabase) -> TestDatabase:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        load_schema(conn)
        load_data(conn, Scale.of(SCALE))
    return db


def test_the_demo_api_under_a_smoke_load(marketplace: TestDatabase) -> None:
    scenario = smoke.api_scenario(marketplace.dsn)
    assert all(scenario.variables[name] for name in ("product", "category", "order", "buyer"))
    with running_api(marketplace.dsn) as api:
        order = scenario.variables["order"][0]
        with urllib.request.urlopen(f"{api.url}/orders/{order}/items", timeout=10) as response:
            assert response.status == 200 and isinstance(json.loads(response.read()), list)
        before = smoke.smoke(api.url, scenario)
        report = run_load(
            LoadOptions(
                url=f"{api.url}/products/{scenario.variables['product'][0]}",
                rate=20,
                duration=1.5,
                db=marketplace.dsn,
            )
        )
    assert before.run.errors == 0 and before.run.requests > 100
    assert {e.name for e in before.run.endpoints if e.requests} == {
        "product",
        "reviews",
        "category_feed",
        "buyer_orders",
        "order_items",
    }
    assert [t.expr for t in before.thresholds] == ["p95<500ms"]
    line = smoke.p95_line(before, before)
    assert line.startswith("API p95 under load: ") and "p95<500ms" in line
    database = report.database
    assert database is not None and database.statements
    assert any("public.products p JOIN public.sellers" in s.query for s in database.statements)
    assert database.peak_connections >= 4  # the API's pool
