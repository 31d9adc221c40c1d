"""Retention selection: newest N OR younger than D days; the newest is never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prodready.backup.retention import Kept, select_expired

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def backups(*ages_days: float) -> list[Kept]:
    return [Kept(Path(f"b{i}"), NOW - timedelta(days=age)) for i, age in enumerate(ages_days)]


def names(paths: list[Path]) -> list[str]:
    return sorted(p.name for p in paths)


@pytest.mark.parametrize(
    ("ages", "keep_last", "keep_days", "expired"),
    [
        ((0, 1, 2, 3), 2, None, ["b2", "b3"]),
        ((0, 1, 2, 3), None, 1.5, ["b2", "b3"]),
        ((0, 1, 2, 3), 3, 1.5, ["b3"]),  # kept by either rule
        ((0, 1, 2, 3), None, None, []),  # no rule, nothing deleted
        ((10, 20), None, 1, ["b1"]),  # the newest survives even when every one is old
        ((3, 0, 2), 1, None, ["b0", "b2"]),  # order on disk does not matter
    ],
)
def test_select_expired(
    ages: tuple[float, ...], keep_last: int | None, keep_days: float | None, expired: list[str]
) -> None:
    assert names(select_expired(backups(*ages), NOW, keep_last, keep_days)) == expired


def test_a_single_backup_is_never_expired() -> None:
    assert select_expired(backups(400), NOW, 1, 1) == []
