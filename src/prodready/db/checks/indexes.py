"""Index checks: foreign keys without an index; unused, duplicate, redundant and invalid indexes.

Drops and rebuilds use CONCURRENTLY, which PostgreSQL refuses on partitioned tables; there
the fix is the plain (transactional) statement and is marked for review.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import BoolExprType, NullTestType
from pglast.parser import ParseError
from psycopg import sql

from prodready.db.checks.shared import (
    DAY_S,
    MIB,
    Partitions,
    derived,
    duration_text,
    regclass_literal,
    statements,
    stats_evidence,
)
from prodready.db.snapshot import Constraint, Index, Snapshot, Table, qualify, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqlgen import idents, render
from prodready.units import human_bytes

MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: longer names are silently truncated
DESC_AND_NULLS_FIRST = 3  # indoption bits; flipping both is a backward scan of the index


# -- unindexed_foreign_key --


@check(
    "unindexed_foreign_key",
    title="Foreign key without an index",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"small_table_rows": 1000, "large_table_rows": 1_000_000},
)
def unindexed_foreign_key(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Without an index whose leading columns are the foreign key's, every DELETE or key
    UPDATE on the referenced table scans the whole referencing table, and
    joins along the key cannot use an index. Create one CONCURRENTLY on the key columns.
    A valid btree (or, for one column, hash) index whose leading columns are the key's, in
    any order, counts, also a partial one on `key IS NOT NULL` (the lookup implies it); on a
    partitioned table, so does one on every leaf. Where only part of a composite key leads
    an index, the lookup is partly served and the finding says so."""
    partitions = Partitions(snap)
    names = _NameAllocator(snap)
    locked = set(snap.locked_tables)
    for key, constraints in snap.constraints_by_table.items():
        table = snap.table(*key)
        if table is None or table.extension is not None or table.qualified in locked:
            continue
        for fks in _fk_groups(constraints):
            if _fk_covered(snap, partitions, table, frozenset(fks[0].columns), locked):
                continue
            partly = _partly_served_by(snap, table, frozenset(fks[0].columns))
            name = names.allocate(table, fks[0])
            yield _fk_issue(table, fks, partitions, name, opts, partly)


def _fk_groups(constraints: list[Constraint]) -> list[list[Constraint]]:
    """Foreign keys grouped by column set: one index serves them all."""
    groups: dict[frozenset[str], list[Constraint]] = {}
    for con in constraints:
        if con.type == "f" and con.columns:
            groups.setdefault(frozenset(con.columns), []).append(con)
    return list(groups.values())


def _fk_covered(
    snap: Snapshot, partitions: Partitions, table: Table, wanted: frozenset[str], locked: set[str]
) -> bool:
    if any(_covers_fk(i, wanted) for i in snap.indexes_by_table.get(table.ident, [])):
        return True
    if table.kind != "p":
        return False
    leaves = partitions.leaves(table)
    return bool(leaves) and all(
        leaf.qualified in locked  # its indexes are unknown: give it the benefit of the doubt
        or any(_covers_fk(i, wanted) for i in snap.indexes_by_table.get(leaf.ident, []))
        for leaf in leaves
    )


def _covers_fk(index: Index, wanted: frozenset[str]) -> bool:
    width = len(wanted)
    if not index.is_valid or index.n_key_columns < width:
        return False
    # the RI trigger's lookup (`fk = $1`) implies fk IS NOT NULL, so a partial index on
    # `fk IS NOT NULL` serves it, as a generic plan too; any other predicate does not
    if index.predicate is not None and not implied_by_not_null(index.predicate, wanted):
        return False
    # a hash index has one column and serves the equality lookups foreign keys make
    if index.method not in ("btree", "hash"):
        return False
    return 0 not in index.attnums[:width] and frozenset(index.key_columns[:width]) == wanted


def implied_by_not_null(predicate: str, columns: frozenset[str]) -> bool:
    """True when `predicate` is a conjunction of `col IS NOT NULL` over `columns` only."""
    try:
        select = parse_sql(f"SELECT 1 WHERE {predicate}")[0].stmt
    except ParseError:
        return False
    where = getattr(select, "whereClause", None)
    if where is None:
        return False
    terms = list(where.args) if _is_and(where) else [where]
    return all(_not_null_column(term) in columns for term in terms)


def _is_and(node: Any) -> bool:
    return isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR


def _not_null_column(node: Any) -> str | None:
    if not (isinstance(node, ast.NullTest) and node.nulltesttype == NullTestType.IS_NOT_NULL):
        return None
    ref = node.arg
    fields = ref.fields if isinstance(ref, ast.ColumnRef) else None
    if not fields or not isinstance(fields[-1], ast.String):
        return None
    return str(fields[-1].sval)


def _partly_served_by(snap: Snapshot, table: Table, wanted: frozenset[str]) -> list[str]:
    """Indexes that lead with one of a composite key's columns: they narrow the RI lookup."""
    if len(wanted) < 2:
        return []
    found = []
    for index in snap.indexes_by_table.get(table.ident, []):
        if not index.is_valid or index.method not in ("btree", "hash") or not index.key_columns:
            continue
        if index.predicate is not None and not implied_by_not_null(index.predicate, wanted):
            continue
        if index.attnums[0] != 0 and index.key_columns[0] in wanted:
            found.append(index.name)
    return sorted(found)


def _fk_issue(
    table: Table,
    fks: list[Constraint],
    partitions: Partitions,
    name: str,
    opts: Options,
    partly: list[str],
) -> Issue:
    columns = fks[0].columns
    rows = partitions.rows(table)
    shown = ", ".join(quote_ident(c) for c in columns)
    referenced = sorted(
        {qualify(c.ref_schema, c.ref_table) for c in fks if c.ref_schema and c.ref_table}
    )
    size = _tree_bytes(partitions, table)
    parent = ", ".join(referenced) or "the referenced table"
    if partly:
        detail = (
            f"No index on {table.qualified} starts with all of ({shown}); "
            f"{', '.join(quote_ident(n) for n in partly)} lead with part of the key, so a "
            f"DELETE or key UPDATE on {parent} finds the rows through part of the key and "
            "filters the rest. An index on the whole key makes the lookup exact."
        )
    else:
        detail = (
            f"No index on {table.qualified} starts with ({shown}), so every DELETE or key "
            f"UPDATE on {parent} scans {_rows_text(rows)} rows, and joins on the key cannot "
            "use an index."
        )
    if table.kind == "p":
        detail += (
            " On a partitioned table CREATE INDEX cannot run CONCURRENTLY and blocks writes "
            "while it builds; for a large tree, build each partition's index CONCURRENTLY and "
            "ATTACH it to an index created ON ONLY the parent."
        )
    evidence: dict[str, Any] = {
        "constraints": sorted(c.name for c in fks),
        "columns": list(columns),
        "referenced_tables": referenced,
        "rows": rows,
        "total_bytes": size,
        "seq_scan": table.seq_scan,
    }
    if partly:
        evidence["partly_served_by"] = partly
    severity = _fk_severity(rows, opts)
    if partly:  # the lookup is narrowed already: one step below the unserved case
        base = severity if severity is not None else Severity.MEDIUM
        severity = Severity(max(int(base) - 1, int(Severity.LOW)))
    return Issue(
        f"{table.qualified} ({shown})",
        detail,
        evidence,
        fix=_create_index_fix(table, name, columns),
        severity=severity,
        verify=_valid_index_sql(table.schema, name),
    )


def _fk_severity(rows: int | None, opts: Options) -> Severity | None:
    if rows is None:
        return None
    if rows >= opts["large_table_rows"]:
        return Severity.HIGH
    if rows < opts["small_table_rows"]:
        return Severity.LOW
    return None


def _tree_bytes(partitions: Partitions, table: Table) -> int | None:
    if table.kind != "p":
        return table.total_bytes
    sizes = [leaf.total_bytes for leaf in partitions.leaves(table) if leaf.total_bytes]
    return sum(sizes) if sizes else None


def _rows_text(rows: int | None) -> str:
    return "all of its" if rows is None else f"its {rows:,}"


def _create_index_fix(table: Table, name: str, columns: list[str]) -> Fix:
    index = sql.Identifier(name)
    target = sql.Identifier(table.schema, table.name)
    qualified = sql.Identifier(table.schema, name)
    if table.kind == "p":  # CONCURRENTLY is refused on partitioned tables
        create = sql.SQL("CREATE INDEX {} ON {} ({})").format(index, target, idents(columns))
        drop = sql.SQL("DROP INDEX {}").format(qualified)
        return Fix(render(create), render(drop), transactional=True, needs_review=True)
    create = sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} ({})").format(
        index, target, idents(columns)
    )
    drop = sql.SQL("DROP INDEX CONCURRENTLY {}").format(qualified)
    return Fix(render(create), render(drop), transactional=False)


def _valid_index_sql(schema: str, name: str) -> str:
    return render(
        sql.SQL("SELECT indisvalid FROM pg_index WHERE indexrelid = {}::regclass").format(
            regclass_literal(schema, name)
        )
    )


class _NameAllocator:
    """Deterministic index names that fit in 63 bytes and collide with no relation."""

    def __init__(self, snap: Snapshot) -> None:
        self.taken: dict[str, set[str]] = {}
        relations: chain[tuple[str, str]] = chain(
            ((t.schema, t.name) for t in snap.tables),
            ((i.schema, i.name) for i in snap.indexes),
            ((s.schema, s.name) for s in snap.sequences),
            ((v.schema, v.name) for v in snap.views),
        )
        for schema, name in relations:
            self.taken.setdefault(schema, set()).add(name)

    def allocate(self, table: Table, fk: Constraint) -> str:
        taken = self.taken.setdefault(table.schema, set())
        stem = "_".join([table.name, *fk.columns])
        name = index_name(stem, "_idx")
        counter = 0
        while name in taken:
            counter += 1
            name = index_name(stem, f"_idx{counter}")
        taken.add(name)
        return name


def index_name(stem: str, suffix: str) -> str:
    """`stem` + `suffix`, or a truncated stem + a short hash of it when that is too long."""
    name = stem + suffix
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = "_" + hashlib.sha1(stem.encode()).hexdigest()[:8]
    room = MAX_IDENTIFIER_BYTES - len(digest) - len(suffix.encode())
    # cut on a character boundary so a multi-byte character is never split
    head = stem.encode()[:room].decode("utf-8", errors="ignore")
    return head + digest + suffix


# -- unused_index --


@check(
    "unused_index",
    title="Unused index",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
    options={
        "min_stats_age_days": 7.0,
        "min_size_bytes": MIB,
        "medium_size_bytes": 100 * MIB,
        "medium_db_fraction": 0.05,
    },
)
def unused_index(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """An index no query has scanned since statistics began still slows every INSERT and
    UPDATE, blocks HOT updates, and takes disk and cache. Drop it CONCURRENTLY (the rollback
    recreates it). Before that, make sure the statistics window covers monthly jobs and that
    replicas do not use it: their scans are not counted here. Indexes that enforce a
    constraint, duplicates and redundant ones (reported by their own checks) are left out."""
    reported = {_key(d.index) for d in duplicates(snap)}
    reported |= {_key(r.index) for r in _redundant(snap)}
    age_days = snap.stats_age_seconds / DAY_S
    usage = _Usage(snap)
    for index in snap.indexes:
        if _key(index) in reported or _keeps_data_safe(index):
            continue
        table = snap.table(index.schema, index.table)
        if table is None or table.extension is not None:
            continue
        scans, size = usage.of(index, table)
        if scans == 0:
            yield _unused_issue(snap, index, table, size, age_days, opts)


class _Usage:
    """Scans and bytes of an index; a partitioned index sums the indexes attached to it."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.children: dict[str, list[Index]] = {}
        for index in snap.indexes:
            if index.parent_index is not None:
                self.children.setdefault(index.parent_index, []).append(index)

    def of(self, index: Index, table: Table) -> tuple[int | None, int]:
        if table.kind != "p":
            return index.idx_scan, index.size_bytes or 0
        # PostgreSQL counts scans on the partitions' indexes, never on the parent's
        parts = [
            (child, self.snap.table(child.schema, child.table))
            for child in self.children.get(index.qualified, [])
        ]
        if not parts or any(t is None for _, t in parts):
            return None, 0
        found = [self.of(child, t) for child, t in parts if t is not None]
        if any(scans is None for scans, _ in found):
            return None, 0
        return sum(scans or 0 for scans, _ in found), sum(size for _, size in found)


def _keeps_data_safe(index: Index) -> bool:
    """Invalid, extension-owned or load-bearing indexes are never drop candidates."""
    return (
        not index.is_valid
        or index.extension is not None
        or index.backs_constraint
        or index.referenced_by_fk
        or index.parent_index is not None
    )


def _unused_issue(
    snap: Snapshot, index: Index, table: Table, size: int, age_days: float, opts: Options
) -> Issue:
    name, table_name = index.qualified, table.qualified
    severity = _unused_severity(snap, size, age_days, opts)
    if age_days < opts["min_stats_age_days"]:
        detail = (
            f"{name} ({human_bytes(size)}) has not been scanned in the "
            f"{duration_text(snap.stats_age_seconds)} since statistics began; wait until they "
            f"cover at least {opts['min_stats_age_days']:g} days before deciding."
        )
    else:
        detail = (
            f"{name} has not been scanned since statistics began {age_days:.0f} days ago, yet "
            f"it takes {human_bytes(size)} and slows every write to {table_name}. Check that "
            "it is not newer than that and that replicas do not use it before dropping."
        )
    writes = sum(n or 0 for n in (table.n_tup_ins, table.n_tup_upd, table.n_tup_del))
    evidence = {
        "idx_scan": 0,
        "size_bytes": size,
        "partitioned": table.kind == "p",  # scans and bytes summed over its partitions
        "table": table_name,
        "table_writes": writes,
        "definition": index.definition,
        **stats_evidence(snap),
    }
    if age_days < opts["min_stats_age_days"]:
        # too little evidence to act on: no drop is offered until statistics are old enough
        wait = f"re-run the audit once statistics cover {opts['min_stats_age_days']:g} days"
        deferred = (
            f"not scanned in the {duration_text(snap.stats_age_seconds)} statistics cover; {wait}"
        )
        return Issue(name, detail, evidence, severity=severity, verify=wait, deferred=deferred)
    return Issue(
        name,
        detail,
        evidence,
        fix=_drop_fix(index, table),
        severity=severity,
        verify=_dropped_sql(index),
    )


def _unused_severity(snap: Snapshot, size: int, age_days: float, opts: Options) -> Severity:
    if age_days < opts["min_stats_age_days"] or size < opts["min_size_bytes"]:
        return Severity.INFO
    db_size = snap.database.size_bytes
    share = size / db_size if db_size else 0.0
    if size >= opts["medium_size_bytes"] or share >= opts["medium_db_fraction"]:
        return Severity.MEDIUM
    return Severity.LOW


# -- duplicate_index --


@check(
    "duplicate_index",
    title="Duplicate index",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
)
def duplicate_index(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Two indexes with the same method, key columns or expressions, sort order, opclasses,
    collations, INCLUDE columns and predicate do the same job twice: every write maintains
    both and the copy takes disk and cache. Drop the copy CONCURRENTLY, keeping the one that
    backs a constraint (or the first by name). When both back constraints, drop the
    redundant constraint in a reviewed migration instead."""
    for dup in duplicates(snap):
        yield _duplicate_issue(snap, dup)


@dataclass(frozen=True)
class Duplicate:
    index: Index
    keeper: Index


def duplicates(snap: Snapshot) -> list[Duplicate]:
    """Every duplicate index paired with the copy that stays."""
    return derived(snap, "duplicate_indexes", _find_duplicates)


def _find_duplicates(snap: Snapshot) -> list[Duplicate]:
    found: list[Duplicate] = []
    for (schema, table), indexes in snap.indexes_by_table.items():
        groups: dict[tuple[Any, ...], list[Index]] = {}
        for index in indexes:
            if index.is_valid and not index.is_exclusion and index.extension is None:
                groups.setdefault(_signature(index), []).append(index)
        deferrable = _deferrable_constraints(snap, schema, table)
        for group in groups.values():
            group.sort(key=_keep_order)
            keeper = group[0]
            for index in group[1:]:
                if index.parent_index is not None:
                    continue  # attached to a partitioned index: judged on the parent
                if index.is_unique and not _enforces_uniqueness(keeper, deferrable):
                    continue  # the keeper would not enforce the same uniqueness
                found.append(Duplicate(index, keeper))
    return found


def dropping(dups: list[Duplicate]) -> set[tuple[str, str]]:
    """The duplicates whose fixes drop them, as (schema, name)."""
    return {_key(d.index) for d in dups if _drop_blocker(d.index) is None}


def _key(index: Index) -> tuple[str, str]:
    return (index.schema, index.name)


def _signature(index: Index) -> tuple[Any, ...]:
    keys = index.n_key_columns
    return (
        index.method,
        tuple(index.key_columns),
        tuple(index.attnums[:keys]),
        frozenset(index.columns[keys:]),
        index.predicate,
        tuple(index.opclasses),
        tuple(index.collations),
        tuple(index.options),
        index.is_unique and _NULLS_NOT_DISTINCT.search(index.definition) is not None,
    )


_NULLS_NOT_DISTINCT = re.compile(r"\) NULLS NOT DISTINCT")
_DEFERRABLE = re.compile(r"(?<!NOT )\bDEFERRABLE\b")


def _keep_order(index: Index) -> tuple[bool, bool, bool, bool, bool, str]:
    """Sort key: the index to keep comes first."""
    return (
        not index.is_primary,
        index.constraint_name is None,
        not index.referenced_by_fk,
        index.parent_index is None,
        not index.is_unique,
        index.name,
    )


def _deferrable_constraints(snap: Snapshot, schema: str, table: str) -> set[str]:
    return {
        c.name
        for c in snap.constraints_by_table.get((schema, table), [])
        if _DEFERRABLE.search(c.definition)
    }


def _enforces_uniqueness(keeper: Index, deferrable: set[str]) -> bool:
    # a deferrable constraint cannot arbitrate INSERT ... ON CONFLICT
    return keeper.is_unique and keeper.constraint_name not in deferrable


def _duplicate_issue(snap: Snapshot, dup: Duplicate) -> Issue:
    index, keeper = dup.index, dup.keeper
    table = snap.table(index.schema, index.table)
    evidence = {
        "duplicate_of": keeper.qualified,
        "definition": index.definition,
        "kept_definition": keeper.definition,
        "size_bytes": index.size_bytes,
        "idx_scan": index.idx_scan,
        "kept_idx_scan": keeper.idx_scan,
        "table": index.table_qualified,
    }
    blocker = _drop_blocker(index)
    if blocker is not None:
        detail = (
            f"{index.qualified} duplicates {keeper.qualified}, but {blocker}; drop the "
            "redundant constraint in a reviewed migration once nothing depends on it."
        )
        return Issue(index.qualified, detail, evidence)
    detail = (
        f"{index.qualified} is identical to {keeper.qualified}: every write maintains both, "
        f"and the copy takes {human_bytes(index.size_bytes or 0)}."
    )
    return Issue(
        index.qualified,
        detail,
        evidence,
        fix=_drop_fix(index, table),
        verify=_dropped_sql(index),
    )


def _drop_blocker(index: Index) -> str | None:
    """Why an index cannot simply be dropped, or None."""
    if index.is_primary or index.constraint_name:
        return f"it backs constraint {quote_ident(index.constraint_name or index.name)}"
    if index.referenced_by_fk:
        return "a foreign key depends on it"
    if index.parent_index is not None:
        return f"it is attached to partitioned index {index.parent_index}"
    return None


# -- redundant_index --


@check(
    "redundant_index",
    title="Redundant index",
    category=Category.PERFORMANCE,
    severity=Severity.LOW,
)
def redundant_index(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A btree index whose key columns lead another btree index (same predicate, opclasses
    and collations, sort order equal or mirrored) adds write cost and disk for lookups the
    longer index already serves, e.g. (a) next to (a, b). Drop it CONCURRENTLY; queries then
    use the longer index, slightly larger per lookup. Unique and constraint indexes stay."""
    for found in _redundant(snap):
        yield _redundant_issue(snap, found)


def _redundant(snap: Snapshot) -> list[Redundancy]:
    """Redundant indexes once the duplicates are gone (shared by two checks)."""
    return derived(snap, "redundant_indexes", lambda s: redundancies(s, dropping(duplicates(s))))


@dataclass(frozen=True)
class Redundancy:
    index: Index
    cover: Index


def redundancies(snap: Snapshot, dropped: set[tuple[str, str]]) -> list[Redundancy]:
    """Indexes whose work another index already does; `dropped` are duplicates going away."""
    found: list[Redundancy] = []
    for indexes in snap.indexes_by_table.values():
        btrees = [
            i for i in indexes if i.is_valid and i.method == "btree" and _key(i) not in dropped
        ]
        for index in btrees:
            if _keeps_data_safe(index) or index.is_unique:
                continue
            covers = [b for b in btrees if b is not index and _covers(b, index)]
            if covers:
                # the widest cover is never redundant itself
                cover = min(
                    covers, key=lambda b: (-b.n_key_columns, -len(b.columns), _keep_order(b))
                )
                found.append(Redundancy(index, cover))
    return found


def _covers(wide: Index, narrow: Index) -> bool:
    """True when `wide` serves every lookup and ordering `narrow` does, and is not its twin."""
    k = narrow.n_key_columns
    if wide.predicate != narrow.predicate or wide.n_key_columns < k:
        return False
    if (
        narrow.key_columns != wide.key_columns[:k]
        or narrow.attnums[:k] != wide.attnums[:k]
        or narrow.opclasses != wide.opclasses[:k]
        or narrow.collations != wide.collations[:k]
    ):
        return False
    same = narrow.options == wide.options[:k]
    mirrored = all(
        a ^ DESC_AND_NULLS_FIRST == b for a, b in zip(narrow.options, wide.options[:k], strict=True)
    )
    narrow_include = set(narrow.columns[k:])
    if not (same or mirrored) or not narrow_include <= set(wide.columns):
        return False
    if wide.n_key_columns > k:
        return True
    wide_include = set(wide.columns[k:])
    if narrow_include < wide_include:
        return True
    # a mirror image in sort order: keep exactly one of the two
    return narrow_include == wide_include and not same and _keep_order(wide) < _keep_order(narrow)


def _redundant_issue(snap: Snapshot, found: Redundancy) -> Issue:
    index, cover = found.index, found.cover
    table = snap.table(index.schema, index.table)
    shown = ", ".join(
        quote_ident(name) if attnum else name
        for name, attnum in zip(index.key_columns, index.attnums, strict=False)
    )
    detail = (
        f"{index.qualified} on ({shown}) is served by {cover.qualified}, whose key starts with "
        f"the same columns; dropping it saves {human_bytes(index.size_bytes or 0)} and write work."
    )
    if index.idx_scan:
        detail += f" Its {index.idx_scan:,} scans will move to the larger index."
    evidence = {
        "covering_index": cover.qualified,
        "definition": index.definition,
        "covering_definition": cover.definition,
        "size_bytes": index.size_bytes,
        "covering_size_bytes": cover.size_bytes,
        "idx_scan": index.idx_scan,
        "covering_idx_scan": cover.idx_scan,
        "table": index.table_qualified,
    }
    return Issue(
        index.qualified,
        detail,
        evidence,
        fix=_drop_fix(index, table),
        verify=_dropped_sql(index),
    )


# -- invalid_index --


@check(
    "invalid_index",
    title="Invalid index",
    category=Category.RELIABILITY,
    severity=Severity.HIGH,
)
def invalid_index(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY leaves an invalid index:
    the planner never uses it, yet writes still maintain it (a unique one still rejects
    duplicates). Drop it CONCURRENTLY and build it again. Builds still running (seen in
    pg_stat_progress_create_index or pg_stat_activity) are left alone: an index is invalid
    until its concurrent build finishes."""
    hidden = snap.limited("activity") is not None
    for index in snap.indexes:
        if index.is_valid or index.extension is not None:
            continue
        table = snap.table(index.schema, index.table)
        if table is None or table.extension is not None:
            continue
        if table.index_build_running or _ddl_running_on(snap, index):
            continue
        yield _invalid_issue(snap, index, table, hidden)


_CONCURRENT_DDL = re.compile(
    r"\b(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|DROP\s+INDEX\s+CONCURRENTLY|REINDEX\b.*?"
    r"\bCONCURRENTLY)\b",
    re.IGNORECASE | re.DOTALL,
)
_REINDEX_WIDE = re.compile(r"\bREINDEX\b.*\b(SCHEMA|DATABASE|SYSTEM)\b", re.IGNORECASE | re.DOTALL)


_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|([^\W\d][\w$]*)')


def _ddl_running_on(snap: Snapshot, index: Index) -> bool:
    """A visible session is building, rebuilding or dropping this index right now."""
    for session in snap.activity:
        text = session.query
        if session.is_self or not session.same_database or session.state != "active" or not text:
            continue
        if not _CONCURRENT_DDL.search(text):
            continue
        if _REINDEX_WIDE.search(text) or {index.name, index.table} & _identifiers(text):
            return True
    return False


def _identifiers(text: str) -> set[str]:
    """Every name a statement mentions, as PostgreSQL would read it (unquoted ones folded)."""
    return {
        quoted.replace('""', '"') if quoted else plain.lower()
        for quoted, plain in _IDENTIFIER.findall(text)
    }


def _invalid_issue(snap: Snapshot, index: Index, table: Table, hidden: bool) -> Issue:
    twin = _valid_twin(snap, index)
    evidence: dict[str, Any] = {
        "definition": index.definition,
        "is_ready": index.is_ready,
        "is_live": index.is_live,
        "size_bytes": index.size_bytes,
        "valid_twin": twin.qualified if twin else None,
        "build_check": "unverified" if hidden else "no build in progress",
    }
    caveat = (
        " This role cannot see other sessions: first confirm no CREATE INDEX CONCURRENTLY or "
        "REINDEX is still running on it."
        if hidden
        else ""
    )
    if table.kind == "p":
        detail = (
            f"Partitioned index {index.qualified} is invalid because some partitions have no "
            "matching index attached: create each one CONCURRENTLY and ALTER INDEX ... ATTACH "
            "PARTITION it, after which the parent becomes valid."
        )
        return Issue(index.qualified, detail, evidence, severity=Severity.MEDIUM)
    if index.constraint_name is not None:
        detail = (
            f"{index.qualified} is invalid and backs constraint "
            f"{quote_ident(index.constraint_name)}; rebuild it with REINDEX INDEX CONCURRENTLY "
            f"in a reviewed migration.{caveat}"
        )
        return Issue(index.qualified, detail, evidence)
    drop = render(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
            sql.Identifier(index.schema, index.name)
        )
    )
    if not index.is_live or twin is not None:
        why = (
            f"a leftover copy of the valid {twin.qualified}"
            if twin is not None
            else "left behind by an interrupted DROP INDEX CONCURRENTLY"
        )
        detail = f"{index.qualified} is invalid, {why}: finish dropping it.{caveat}"
        return Issue(index.qualified, detail, evidence, fix=Fix(drop, transactional=False))
    cost = (
        "yet every write still maintains it"
        if index.is_ready
        else "yet it still stops HOT updates of its columns"
    )
    detail = (
        f"{index.qualified} is invalid after a failed concurrent build: queries run as if it "
        f"did not exist, {cost}."
    )
    if index.is_unique:
        detail += " A unique build usually fails on duplicate keys: remove them before rebuilding."
    detail += caveat
    rebuild = statements([drop, concurrent_definition(index)])
    # an invalid index serves no query, so dropping the rebuilt one restores the old behaviour
    fix = Fix(rebuild, drop, transactional=False, needs_review=index.is_unique)
    return Issue(
        index.qualified,
        detail,
        evidence,
        fix=fix,
        verify=_valid_index_sql(index.schema, index.name),
    )


def _valid_twin(snap: Snapshot, index: Index) -> Index | None:
    """A valid index with the same definition, e.g. the original of a REINDEX's _ccnew copy."""
    signature = (_signature(index), index.is_unique)
    for other in snap.indexes_by_table.get((index.schema, index.table), []):
        if (
            other is not index
            and other.is_valid
            and (_signature(other), other.is_unique) == signature
        ):
            return other
    return None


# -- fixes shared by the drop checks --


_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX ")
_ON_ONLY = re.compile(r'^((?:"(?:[^"]|"")*"|[^\s"]+) ON )ONLY ')


def concurrent_definition(index: Index) -> str:
    """The index's definition as a CREATE INDEX CONCURRENTLY statement."""
    return _recreate(index, concurrently=True)


def _recreate(index: Index, *, concurrently: bool) -> str:
    match = _CREATE_INDEX.match(index.definition)
    if match is None:
        return index.definition
    rest = index.definition[match.end() :]
    # a partitioned index is shown "ON ONLY": recreate it on the partitions as well
    rest = _ON_ONLY.sub(r"\1", rest, count=1)
    return match.group(0) + ("CONCURRENTLY " if concurrently else "") + rest


def _drop_fix(index: Index, table: Table | None) -> Fix:
    target = sql.Identifier(index.schema, index.name)
    if table is not None and table.kind == "p":  # CONCURRENTLY is refused on partitioned ones
        drop = render(sql.SQL("DROP INDEX {}").format(target))
        return Fix(drop, _recreate(index, concurrently=False), needs_review=True)
    drop = render(sql.SQL("DROP INDEX CONCURRENTLY {}").format(target))
    return Fix(drop, concurrent_definition(index), transactional=False)


def _dropped_sql(index: Index) -> str:
    return render(
        sql.SQL("SELECT to_regclass({}) IS NULL AS dropped").format(
            regclass_literal(index.schema, index.name)
        )
    )
