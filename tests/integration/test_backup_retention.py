"""Retention on disk: exactly the right dumps, manifests and drill records remain."""

from __future__ import annotations

from pathlib import Path

from prodready.backup import take_backup
from prodready.backup.model import DRILL_SUFFIX, MANIFEST_SUFFIX
from tests.conftest import TestDatabase


def test_keep_last_keeps_exactly_the_newest(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)")
    foreign = tmp_path / "someone-elses.dump"
    foreign.write_text("not ours")  # no manifest: retention never judges it
    made = [take_backup(db.dsn, tmp_path).dump for _ in range(3)]
    (tmp_path / (made[0].name + DRILL_SUFFIX)).write_text("{}")
    last = take_backup(db.dsn, tmp_path, keep_last=2)
    assert sorted(p.name for p in last.deleted) == sorted(p.name for p in made[:2])
    remaining = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted(
        [foreign.name]
        + [d.name for d in (made[2], last.dump)]
        + [d.name + MANIFEST_SUFFIX for d in (made[2], last.dump)]
    )
    assert remaining == expected


def test_keep_days_never_deletes_the_newest(db: TestDatabase, tmp_path: Path) -> None:
    first = take_backup(db.dsn, tmp_path, keep_days=1)
    assert first.deleted == [] and first.dump.exists()
