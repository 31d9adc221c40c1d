"""The demo's load test: a short bounded smoke load on its API before and after the fixes."""

from __future__ import annotations

import time

import psycopg
from rich.console import Console

from prodready.load.pipeline import run_scenario
from prodready.load.report import LoadReport
from prodready.load.scenario import Endpoint, Scenario, Stage

RATE = 40  # req/s: light, so the fixes' gain shows as latency, not as a queue
SECONDS = 4.0
TIMEOUT_S = 4.0  # bounds the drain after the last request too
THRESHOLD = "p95<500ms"  # the target the readiness plans write down
# marked, so the demo's re-audit does not count them as the app's workload
_SAMPLES = {
    "product": "SELECT /* prodready */ product_id FROM public.order_items ORDER BY id LIMIT 200",
    "category": "SELECT /* prodready */ DISTINCT category_id FROM public.products ORDER BY 1 "
    "LIMIT 50",
    "order": "SELECT /* prodready */ id FROM public.orders ORDER BY id DESC LIMIT 200",
    "buyer": "SELECT /* prodready */ DISTINCT buyer_id FROM public.orders ORDER BY 1 LIMIT 200",
}


def api_scenario(dsn: str) -> Scenario:
    """The demo API's read endpoints, weighted like the workload, with ids from the data."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        variables = {
            name: tuple(str(row[0]) for row in conn.execute(query).fetchall())
            for name, query in _SAMPLES.items()
        }
    endpoints = (
        Endpoint("product", "/products/${product}", weight=4),
        Endpoint("reviews", "/products/${product}/reviews", weight=4),
        Endpoint("category_feed", "/categories/${category}/products", weight=3),
        Endpoint("buyer_orders", "/users/${buyer}/orders", weight=2),
        Endpoint("order_items", "/orders/${order}/items", weight=1),
    )
    return Scenario(
        name="demo-smoke",
        endpoints=endpoints,
        stages=(Stage(SECONDS, RATE),),
        variables=variables,
        timeout_s=TIMEOUT_S,
        connections=32,
    )


def smoke(url: str, scenario: Scenario) -> LoadReport:
    return run_scenario(scenario, url, (THRESHOLD,))


def step(console: Console, label: str, url: str, scenario: Scenario) -> LoadReport:
    """Run the smoke load as one of the demo's steps (a spinner, then a ✓ line).

    Its time is shown but kept out of the demo's step timings, which time the audit loop.
    """
    started = time.perf_counter()
    with console.status(label):
        report = smoke(url, scenario)
    elapsed = time.perf_counter() - started
    console.print(f"[green]✓[/green] {label} [dim]{elapsed:.1f}s[/dim]")
    return report


def p95_line(before: LoadReport, after: LoadReport) -> str:
    """`API p95 under load: 812.0 ms → 9.1 ms (smoke, 40 req/s; p95<500ms: FAIL → ok)`."""

    def p95(report: LoadReport) -> str:
        value = report.run.latency.p95
        return "-" if value is None else f"{value:,.1f} ms"

    def verdict(report: LoadReport) -> str:
        return "ok" if report.passed else "FAIL"

    return (
        f"API p95 under load: {p95(before)} → {p95(after)} "
        f"(smoke, {RATE} req/s for {SECONDS:g} s; {THRESHOLD}: {verdict(before)} → "
        f"{verdict(after)}; errors {before.run.errors} → {after.run.errors})"
    )
