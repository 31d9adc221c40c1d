"""Drop advice: unused, duplicate and prefix-redundant indexes that no workload plan uses.

The snapshot checks find the suspects (their helpers are reused, not copied); the advisor
adds proof from the workload: an index some workload plan uses, today or under the
recommended set, is never proposed unless an identical twin stays. Indexes that back a
constraint (primary key, unique, exclusion) or that a foreign key relies on are never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from prodready.advisor.candidates import Candidate
from prodready.advisor.model import DropRecommendation
from prodready.db.checks.indexes import (
    Duplicate,
    _drop_blocker,
    _drop_fix,
    _keeps_data_safe,
    dropping,
    duplicates,
    redundancies,
)
from prodready.db.checks.shared import DAY_S, duration_text
from prodready.db.snapshot import Index, Snapshot
from prodready.units import human_bytes

MIN_STATS_AGE_DAYS = 7.0  # "unused" means little before statistics cover a week


@dataclass(frozen=True)
class DropAdvice:
    drops: list[DropRecommendation]
    notes: list[str]


def advise_drops(
    snap: Snapshot,
    used: set[tuple[str, str]],
    *,
    recommended: Iterable[Candidate] = (),
    min_stats_age_days: float = MIN_STATS_AGE_DAYS,
) -> DropAdvice:
    """Drops validated against the workload; `used` holds (schema, index) seen in its plans."""
    drops: list[DropRecommendation] = []
    notes: list[str] = []
    handled: set[tuple[str, str]] = set()
    dups = duplicates(snap)
    for dup in dups:
        index = dup.index
        if _drop_blocker(index) is not None or not _droppable(snap, index):
            continue
        handled.add(_key(index))
        detail = f"identical to {dup.keeper.qualified}, which stays and serves the same plans"
        if _key(index) in used:
            detail += "; workload plans that use it will use the twin instead"
        drops.append(_drop(snap, index, "duplicate", detail))
    for found in redundancies(snap, dropping(dups)):
        index = found.index
        if _key(index) in handled or not _droppable(snap, index):
            continue
        handled.add(_key(index))
        if _key(index) in used:
            notes.append(
                f"{index.qualified} is prefix-redundant with {found.cover.qualified}, but "
                "workload plans use it: not proposed for drop"
            )
            continue
        detail = (
            f"its key columns lead {found.cover.qualified}, which serves the same lookups; "
            "no workload plan uses it"
        )
        drops.append(_drop(snap, index, "redundant", detail))
    for index, cover in _replaced(snap, recommended):
        if _key(index) in handled or _key(index) in used or not _droppable(snap, index):
            continue
        handled.add(_key(index))
        detail = (
            f"the recommended {cover.label()} starts with its key columns and no workload plan "
            "uses it under the recommended set; drop it only after creating that index"
        )
        drops.append(_drop(snap, index, "redundant", detail))
    drops += _unused(snap, used, handled, min_stats_age_days, notes)
    dropped = {d.index for d in drops}
    drops = [_keeper_note(d, dups, dropped) for d in drops]
    drops.sort(key=lambda d: (d.reason, d.index))
    return DropAdvice(drops, notes)


def _keeper_note(
    drop: DropRecommendation, dups: list[Duplicate], dropped: set[str]
) -> DropRecommendation:
    """A duplicate's twin that is itself dropped does not "stay": say so."""
    if drop.reason != "duplicate":
        return drop
    keeper = next((d.keeper for d in dups if d.index.qualified == drop.index), None)
    if keeper is None or keeper.qualified not in dropped:
        return drop
    detail = (
        f"identical to {keeper.qualified}, which is dropped too (its own entry names the index "
        f"that serves their lookups) (frees {human_bytes(drop.estimated_bytes)})"
    )
    return replace(drop, detail=detail)


def _unused(
    snap: Snapshot,
    used: set[tuple[str, str]],
    handled: set[tuple[str, str]],
    min_days: float,
    notes: list[str],
) -> list[DropRecommendation]:
    age_s = snap.stats_age_seconds
    found = []
    young = []
    for index in snap.indexes:
        table = snap.table(index.schema, index.table)
        if (
            _key(index) in handled
            or _key(index) in used
            or index.idx_scan != 0
            or table is None
            or table.kind == "p"  # scans are counted on the partitions' indexes
            or not _droppable(snap, index)
        ):
            continue
        if age_s < min_days * DAY_S:
            young.append(index.qualified)
            continue
        detail = (
            f"not scanned since statistics began {duration_text(age_s)} ago "
            f"({snap.stats_since}) and no workload plan uses it; replicas' scans are not "
            "counted here"
        )
        found.append(_drop(snap, index, "unused", detail))
    if young:
        notes.append(
            f"{len(young)} index(es) look unused ({', '.join(sorted(young)[:5])}), but "
            f"statistics cover only {duration_text(age_s)}: re-run once they cover "
            f"{min_days:g} days"
        )
    return found


def _replaced(snap: Snapshot, recommended: Iterable[Candidate]) -> list[tuple[Index, Candidate]]:
    """Existing plain b-trees whose key columns lead a recommended index."""
    found = []
    for candidate in recommended:
        if candidate.method != "btree" or candidate.predicate or candidate.search:
            continue
        if any(not k.is_column or k.opclass for k in candidate.keys):
            continue
        table = (candidate.table.schema, candidate.table.name)
        for index in snap.indexes_by_table.get(table, []):
            if _led_by(index, candidate):
                found.append((index, candidate))
    return found


def _led_by(index: Index, candidate: Candidate) -> bool:
    k = index.n_key_columns
    if (
        index.method != "btree"
        or index.predicate is not None
        or not index.is_valid
        or k >= len(candidate.keys)
        or 0 in index.attnums[:k]
        or index.key_columns != [key.expr for key in candidate.keys[:k]]
        or any(c not in (None, "default") for c in index.collations)
        or any(o.endswith("_pattern_ops") for o in index.opclasses)
    ):
        return False
    bits = [(1 if key.desc else 0) | (2 if _nulls_first(key) else 0) for key in candidate.keys]
    same = list(index.options[:k]) == bits[:k]
    mirrored = list(index.options[:k]) == [b ^ 3 for b in bits[:k]]
    covered = set(index.columns[k:]) <= candidate.columns
    return (same or mirrored) and covered


def _nulls_first(key: object) -> bool:
    nulls = getattr(key, "nulls_first", None)
    return bool(getattr(key, "desc", False)) if nulls is None else bool(nulls)


def _droppable(snap: Snapshot, index: Index) -> bool:
    table = snap.table(index.schema, index.table)
    return (
        table is not None
        and table.extension is None
        and not _keeps_data_safe(index)
        and not index.is_unique
    )


def _drop(snap: Snapshot, index: Index, reason: str, detail: str) -> DropRecommendation:
    table = snap.table(index.schema, index.table)
    fix = _drop_fix(index, table)
    size = index.size_bytes or 0
    return DropRecommendation(
        index=index.qualified,
        reason=reason,  # type: ignore[arg-type]
        estimated_bytes=size,
        definition=fix.sql,
        rollback=fix.rollback_sql or "",
        detail=f"{detail} (frees {human_bytes(size)})",
    )


def _key(index: Index) -> tuple[str, str]:
    return (index.schema, index.name)
