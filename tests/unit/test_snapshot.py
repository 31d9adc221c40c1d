"""Snapshot JSON and display names."""

from __future__ import annotations

import json

import pytest

from prodready.db.snapshot import Snapshot, qualify, quote_ident
from prodready.errors import UsageError
from tests import factories as f


def test_round_trip_preserves_everything() -> None:
    snap = f.snapshot(
        tables=[f.table("orders")],
        indexes=[f.index("orders_pkey", "orders", is_primary=True)],
        settings=[f.setting("fsync", "on")],
    )
    again = Snapshot.from_json(json.loads(json.dumps(snap.to_json())))
    assert again == snap
    assert again.table("public", "orders") == snap.tables[0]


def test_unknown_fields_from_a_newer_minor_version_are_ignored() -> None:
    data = f.snapshot().to_json()
    data["future_section"] = [1, 2]
    assert Snapshot.from_json(data).server == f.server()


def test_newer_schema_is_refused() -> None:
    data = f.snapshot().to_json()
    data["schema_version"] = 2
    with pytest.raises(UsageError, match="newer"):
        Snapshot.from_json(data)


def test_ages_are_relative_to_collection_time() -> None:
    snap = f.snapshot(database=f.database(stats_reset="2026-01-30T12:00:00+00:00"))
    assert snap.stats_age_seconds == 86400
    assert snap.age_seconds("2026-01-31T11:00:00+00:00") == 3600
    assert f.snapshot().stats_age_seconds == 30.5 * 86400  # since server start


def test_setting_ms_converts_units() -> None:
    snap = f.snapshot(settings=[f.setting("statement_timeout", "30", "s"),
                                f.setting("lock_timeout", "0", "ms")])  # fmt: skip
    assert snap.setting_ms("statement_timeout") == 30_000
    assert snap.setting_ms("lock_timeout") == 0
    assert snap.setting_ms("missing") is None


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("orders", "orders"),
        ("Orders", '"Orders"'),
        ("order", '"order"'),
        ("user", '"user"'),
        ('we"ird', '"we""ird"'),
        ("with space", '"with space"'),
        ("ünï", '"ünï"'),
        ("_x1", "_x1"),
        ("1x", '"1x"'),
    ],
)
def test_quote_ident_matches_postgres(name: str, shown: str) -> None:
    assert quote_ident(name) == shown
    assert qualify("public", name) == f"public.{shown}"
