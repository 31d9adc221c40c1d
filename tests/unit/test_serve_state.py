"""Dashboard derivations from hand-built samples: deltas, chains, rates, metrics, the page."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from prodready.errors import UsageError
from prodready.serve import model as m
from prodready.serve.collect import blank_literals
from prodready.serve.metrics import render_metrics
from prodready.serve.page import render_fragment, render_page, sparkline
from prodready.serve.server import require_safe_bind
from prodready.serve.state import (
    History,
    cache_hit_percent,
    lock_chains,
    rate,
    statement_deltas,
    table_growth,
    view,
)


def counters(**kw: Any) -> m.DatabaseCounters:
    base: dict[str, Any] = dict(
        datid=5, datname="app", numbackends=3, xact_commit=1000, xact_rollback=0, blks_read=100,
        blks_hit=900, tup_returned=0, tup_fetched=0, tup_inserted=0, tup_updated=0,
        tup_deleted=0, conflicts=0, temp_files=0, temp_bytes=0, deadlocks=0, frozen_xid_age=10**6,
    )  # fmt: skip
    return m.DatabaseCounters(**{**base, **kw})


def stmt(queryid: str, calls: int, total_ms: float, stddev_ms: float = 1.0) -> m.StatementCounters:
    return m.StatementCounters(queryid, calls, total_ms, calls, total_ms / max(calls, 1), stddev_ms)


def sample(at: float, **kw: Any) -> m.Sample:
    base: dict[str, Any] = dict(
        taken_at=at, up=True, database="app", max_connections=100, queries=11, db_time_ms=4.0,
        activity=[m.ActivityCount("app", "active", 2, 0.5), m.ActivityCount("app", "idle", 8, 0)],
        databases=[counters()], statements=[],
    )  # fmt: skip
    return m.Sample(**{**base, **kw})


def test_statement_deltas_are_per_interval_not_lifetime() -> None:
    before = [stmt("1", 1000, 5000.0), stmt("2", 10, 10.0)]
    after = [stmt("1", 1010, 5020.0), stmt("2", 20, 1010.0, stddev_ms=10), stmt("3", 5, 5.0)]
    deltas = statement_deltas(before, after)
    assert [d.queryid for d in deltas] == ["2", "1", "3"]
    assert deltas[0].calls == 10 and deltas[0].mean_ms == 100.0
    assert deltas[0].p95_ms == pytest.approx(100 + 1.645 * 10)


def test_statement_deltas_skip_idle_and_reset_entries() -> None:
    assert statement_deltas([stmt("1", 50, 50.0)], [stmt("1", 50, 50.0)]) == []
    assert statement_deltas([stmt("1", 50, 50.0)], [stmt("1", 3, 3.0)]) == []
    assert statement_deltas(None, [stmt("1", 3, 3.0)]) == []


def test_rates_and_cache_hit() -> None:
    assert rate(counters(), counters(xact_commit=1500), 5.0) == 100.0
    assert rate(counters(xact_commit=10), counters(xact_commit=1), 5.0) is None  # stats reset
    assert cache_hit_percent(None, counters()) == 90.0
    assert cache_hit_percent(counters(), counters(blks_hit=1890, blks_read=110)) == 99.0


def test_lock_chains_follow_blockers_to_the_root() -> None:
    locks = [m.LockWait(30, "a", 1.0, [20], None), m.LockWait(20, "b", 2.0, [10], None)]
    assert lock_chains(locks) == ["30 \u2190 20 \u2190 10", "20 \u2190 10"]
    cycle = [m.LockWait(1, "a", 1.0, [2], None), m.LockWait(2, "b", 1.0, [1], None)]
    assert lock_chains(cycle)[0] == "1 \u2190 2 \u2190 1"


def test_literals_are_blanked() -> None:
    assert blank_literals("SELECT 1 FROM u WHERE pw = 'it''s secret'") == (
        "SELECT 1 FROM u WHERE pw = '?'"
    )


def history_with_two_samples() -> History:
    history = History()
    history.add(sample(100.0, statements=[stmt("9", 10, 100.0)]))
    history.add(
        sample(105.0, databases=[counters(xact_commit=1500)], statements=[stmt("9", 30, 700.0)])
    )
    return history


def test_view_and_page_render_live_values() -> None:
    data = view(history_with_two_samples(), 106.0)
    assert data["tps"] == 100.0 and data["connections"]["percent"] == 10.0
    assert data["statements"][0]["calls"] == 20
    page = render_page(data, 5000)
    assert 'id="tps">100.0<' in page and "setInterval" in page and "<polyline" in page
    assert "<script src" not in page and "http" not in page.split("<script>")[0]  # no CDN


def test_down_database_shows_a_banner_and_keeps_the_last_values() -> None:
    history = history_with_two_samples()
    history.add(m.Sample(taken_at=110.0, up=False, error="cannot reach db: connection refused"))
    data = view(history, 111.0)
    fragment = render_fragment(data)
    assert 'id="down"' in fragment and "connection refused" in fragment
    assert 'id="tps"' in fragment  # the last good reading stays on the page


def test_metrics_use_postgres_exporter_names() -> None:
    history = history_with_two_samples()
    families = {f.name: f for f in text_string_to_metric_families(render_metrics(history).decode())}
    assert families["pg_up"].samples[0].value == 1.0
    xact = families["pg_stat_database_xact_commit"].samples[0]
    assert xact.name == "pg_stat_database_xact_commit" and xact.value == 1500  # no _total
    assert xact.labels == {"datid": "5", "datname": "app"}
    states = {s.labels["state"]: s.value for s in families["pg_stat_activity_count"].samples}
    assert states == {"active": 2.0, "idle": 8.0}
    assert families["prodready_statement_p95_seconds"].samples[0].labels == {"queryid": "9"}


def test_metrics_when_down() -> None:
    history = History()
    history.add(m.Sample(taken_at=1.0, up=False, error="x"))
    families = [f.name for f in text_string_to_metric_families(render_metrics(history).decode())]
    assert families == ["pg_up"]


def test_sparkline_scales_into_the_box() -> None:
    svg = str(sparkline([(0, 5), (1, 10), (2, 0)], width=102, height=44))
    assert 'points="1.0,22.0 51.0,2.0 101.0,42.0"' in svg
    assert "<polyline" not in str(sparkline([(0, 1)]))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    require_safe_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "db.example.com"])
def test_other_addresses_need_a_token(host: str) -> None:
    with pytest.raises(UsageError, match="give --token"):
        require_safe_bind(host, None)
    require_safe_bind(host, "secret")


def test_table_growth_since_the_first_reading() -> None:
    first = m.Slow(0.0, 10**6, [m.RelationSize("public.a", 1000, 100)], [])
    later = m.Slow(1800.0, 2 * 10**6, [m.RelationSize("public.a", 3000, 100),
                                       m.RelationSize("public.b", 5, 5)], [])  # fmt: skip
    rows = table_growth(first, later)
    assert [(r["name"], r["growth_bytes_per_h"]) for r in rows] == [
        ("public.a", 4000),
        ("public.b", None),
    ]
    history = history_with_two_samples()
    history.add(sample(200.0, slow=first))
    history.add(sample(2000.0, slow=later))
    fragment = render_fragment(view(history, 2001.0))
    assert "public.a" in fragment and "3.9 kB" in fragment
