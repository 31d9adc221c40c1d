"""Table checks: primary keys, sequential scans, bloat, vacuum and statistics freshness."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from prodready.db.checks.shared import (
    DAY_S,
    MIB,
    Partitions,
    Trigger,
    autovacuum_enabled,
    autovacuum_trigger,
    disabled_reason,
    ident,
    int_option,
    latest,
    minutes_since,
    regclass_literal,
    since_text,
    statements,
    stats_evidence,
)
from prodready.db.snapshot import Column, Index, Snapshot, Table, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqlgen import render
from prodready.units import human_bytes

# PostgreSQL's storage constants (bufpage.h, htup_details.h, itemid.h) for the bloat estimate
PAGE_HEADER_BYTES = 24
TUPLE_HEADER_BYTES = 23
LINE_POINTER_BYTES = 4
MAXALIGN = 8
ALIGNMENT = {"c": 1, "s": 2, "i": 4, "d": 8}


# -- missing_primary_key --


@check(
    "missing_primary_key",
    title="Table without a primary key",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
)
def missing_primary_key(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A table without a primary key has no reliable row identity: logical replication
    cannot replicate its UPDATEs and DELETEs, ORMs and admin tools cannot address a row,
    and duplicate rows creep in. Add one; when a unique index on NOT NULL columns already
    exists, `ALTER TABLE ... ADD PRIMARY KEY USING INDEX` promotes it without a rebuild.
    Partitions are judged through their partitioned table, whose key must include the
    partition key; pg_partman's template tables are skipped."""
    partitions = Partitions(snap)
    for table in snap.tables:
        if table.kind not in ("r", "p") or table.is_partition or table.has_primary_key:
            continue
        if table.extension is not None or _partman_template(snap, table):
            continue
        if table.kind == "p":
            yield _partitioned_pk_issue(snap, table, partitions.rows(table))
        else:
            yield _missing_pk_issue(snap, table, partitions.rows(table))


def _partman_template(snap: Snapshot, table: Table) -> bool:
    """pg_partman's template tables only carry settings for new partitions; they hold no rows."""
    partman = snap.extension_map.get("pg_partman")
    return (
        partman is not None
        and table.schema == partman.schema
        and (table.name.startswith("template_"))
    )


def partition_key_columns(table: Table) -> list[str]:
    """The plain columns of a partition key ("RANGE (created_at)" -> [created_at])."""
    if not table.partition_key or "(" not in table.partition_key:
        return []
    inner = table.partition_key[
        table.partition_key.index("(") + 1 : table.partition_key.rindex(")")
    ]
    names = []
    for part in inner.split(","):
        name = part.strip()
        if name.startswith('"') and name.endswith('"'):
            names.append(name[1:-1].replace('""', '"'))
        elif name.replace("_", "a").isalnum():
            names.append(name.lower())
    return names


def _partitioned_pk_issue(snap: Snapshot, table: Table, rows: int | None) -> Issue:
    """A partitioned table's primary key must contain the partition key; suggest one that does."""
    key = partition_key_columns(table)
    not_null = {c.name for c in snap.columns_by_table.get(table.ident, []) if c.not_null}
    unique = [
        i
        for i in snap.indexes_by_table.get(table.ident, [])
        if i.is_unique and i.is_valid and i.predicate is None and 0 not in i.attnums
        and set(i.key_columns) <= not_null and set(key) <= set(i.key_columns)
    ]  # fmt: skip
    candidate = min(unique, key=lambda i: (i.n_key_columns, i.name), default=None)
    evidence: dict[str, Any] = {
        "rows": rows,
        "partition_key": table.partition_key,
        "unique_index": candidate.qualified if candidate else None,
    }
    verify = render(
        sql.SQL(
            "SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p'"
        ).format(regclass_literal(table.schema, table.name))
    )
    shown_key = ", ".join(quote_ident(c) for c in key) or table.partition_key or "its key"
    rule = (
        f"On a partitioned table PostgreSQL accepts only a primary key that includes the "
        f"partition key ({shown_key}), so a lone bigint identity column is refused."
    )
    if candidate is None:
        detail = (
            f"{table.qualified} has no primary key. {rule} Add one over a unique row identity "
            f"plus the partition key, e.g. PRIMARY KEY (id, {shown_key}), in a reviewed migration."
        )
        return Issue(table.qualified, detail, evidence, fix=None, verify=verify)
    columns = candidate.key_columns
    detail = (
        f"{table.qualified} has no primary key. {rule} The unique index {candidate.qualified} "
        f"on NOT NULL ({', '.join(map(quote_ident, columns))}) already identifies rows and "
        "includes the partition key: declare it the primary key (this builds a unique index "
        "on every partition; the old index can then be dropped)."
    )
    target = sql.Identifier(table.schema, table.name)
    name = sql.Identifier(f"{table.name}_pkey"[:63])
    add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        target, name, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, name)
    fix = Fix(sql=render(add), rollback_sql=render(drop), needs_review=True)
    return Issue(table.qualified, detail, evidence, fix=fix, verify=verify)


def _missing_pk_issue(snap: Snapshot, table: Table, rows: int | None) -> Issue:
    candidate = _promotable_unique_index(snap, table)
    evidence: dict[str, Any] = {
        "rows": rows,
        "total_bytes": table.total_bytes,
        "replica_identity": table.replica_identity,
        "promotable_index": candidate.qualified if candidate else None,
    }
    verify = render(
        sql.SQL(
            "SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'p'"
        ).format(regclass_literal(table.schema, table.name))
    )
    if candidate is None:
        detail = (
            f"{table.qualified} has no primary key, and no plain unique index on NOT NULL "
            "columns can be promoted to one; add one (for example a bigint identity column) "
            "in a reviewed migration."
        )
        return Issue(table.qualified, detail, evidence, fix=None, verify=verify)
    columns = ", ".join(quote_ident(c) for c in candidate.key_columns)
    detail = (
        f"{table.qualified} has no primary key, but the unique index {candidate.qualified} "
        f"on NOT NULL ({columns}) can become one without a rebuild."
    )
    target = sql.Identifier(table.schema, table.name)
    promote = sql.SQL("ALTER TABLE {} ADD PRIMARY KEY USING INDEX {}").format(
        target, sql.Identifier(candidate.name)
    )
    # the constraint takes the index with it when dropped, so the undo recreates the index
    undo = [
        render(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, ident(candidate.name))),
        candidate.definition,
    ]
    fix = Fix(sql=render(promote), rollback_sql=statements(undo), needs_review=True)
    return Issue(table.qualified, detail, evidence, fix=fix, verify=verify)


def _promotable_unique_index(snap: Snapshot, table: Table) -> Index | None:
    """A plain unique btree index on NOT NULL columns that ADD PRIMARY KEY USING INDEX accepts."""
    if table.kind != "r":  # not supported on partitioned tables
        return None
    not_null = {c.name for c in snap.columns_by_table.get(table.ident, []) if c.not_null}
    candidates = [
        i
        for i in snap.indexes_by_table.get(table.ident, [])
        if i.is_unique
        and i.is_valid
        and not i.is_primary
        and i.constraint_name is None
        and not i.referenced_by_fk  # the rollback's DROP CONSTRAINT would need CASCADE
        and i.method == "btree"
        and i.predicate is None
        and i.n_key_columns == len(i.columns)
        and 0 not in i.attnums
        and not any(i.options)
        and set(i.key_columns) <= not_null
    ]
    return min(candidates, key=lambda i: (i.n_key_columns, i.name), default=None)


# -- seq_scan_heavy_table --


@check(
    "seq_scan_heavy_table",
    title="Large table read mostly by sequential scans",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={
        "min_rows": 10_000,
        "min_seq_scans": 100,
        "min_seq_scans_per_day": 24.0,
        "min_rows_per_scan": 10_000,
        "min_seq_scan_share": 0.5,
    },
)
def seq_scan_heavy_table(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Queries that read a large table from start to end burn CPU and I/O on every call and
    get slower as the table grows; usually an index is missing or a query cannot use one.
    Flagged when sequential scans are frequent, read many rows each, and outnumber index
    scans. Run `prodready advise` to find the queries and the indexes that serve them."""
    age_days = max(snap.stats_age_seconds / DAY_S, 1.0)  # a young window must not inflate rates
    for table in snap.tables:
        if table.kind not in ("r", "m") or table.extension is not None:
            continue
        usage = _seq_usage(table, age_days)
        if usage is None or not _seq_heavy(usage, opts):
            continue
        yield _seq_issue(snap, table, usage)


@dataclass(frozen=True)
class _SeqUsage:
    rows: int
    seq_scan: int
    seq_tup_read: int
    idx_scan: int
    rows_per_scan: float
    share: float
    per_day: float


def _seq_usage(table: Table, age_days: float) -> _SeqUsage | None:
    if not table.seq_scan or table.seq_tup_read is None:
        return None
    rows = max(table.n_live_tup or 0, int(table.reltuples))
    idx_scan = table.idx_scan or 0
    return _SeqUsage(
        rows=rows,
        seq_scan=table.seq_scan,
        seq_tup_read=table.seq_tup_read,
        idx_scan=idx_scan,
        rows_per_scan=table.seq_tup_read / table.seq_scan,
        share=table.seq_scan / (table.seq_scan + idx_scan),
        per_day=table.seq_scan / age_days,
    )


def _seq_heavy(u: _SeqUsage, opts: Options) -> bool:
    return (
        u.rows >= opts["min_rows"]
        and u.seq_scan >= opts["min_seq_scans"]
        and u.per_day >= opts["min_seq_scans_per_day"]
        and u.rows_per_scan >= opts["min_rows_per_scan"]
        and u.share >= opts["min_seq_scan_share"]
    )


def _seq_issue(snap: Snapshot, table: Table, u: _SeqUsage) -> Issue:
    detail = (
        f"{u.seq_scan:,} sequential scans read {u.rows_per_scan:,.0f} rows each on average "
        f"({u.share:.0%} of all scans on a {u.rows:,}-row table). "
        "Run `prodready advise` to find the queries and the indexes that would serve them."
    )
    evidence = {
        "seq_scan": u.seq_scan,
        "seq_tup_read": u.seq_tup_read,
        "idx_scan": u.idx_scan,
        "n_live_tup": table.n_live_tup,
        "rows_per_seq_scan": round(u.rows_per_scan),
        "seq_scan_share": round(u.share, 3),
        "seq_scans_per_day": round(u.per_day, 1),
        "total_bytes": table.total_bytes,
        **stats_evidence(snap),
    }
    verify = "`prodready advise` proposes indexes for the queries scanning this table"
    return Issue(table.qualified, detail, evidence, verify=verify)


# -- table_bloat --


@check(
    "table_bloat",
    title="Table bloat",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"min_table_bytes": 10 * MIB, "min_bloat_ratio": 0.5, "min_wasted_bytes": 8 * MIB},
)
def table_bloat(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """A table much larger than its live rows need wastes disk, cache and I/O: every
    sequential scan and backup reads the empty space. The estimate compares the table's
    pages with the pages its rows need (row width from ANALYZE statistics, tuple headers,
    alignment, fillfactor). VACUUM makes dead space reusable; pg_repack returns it to the
    operating system online (VACUUM FULL does too, but locks the table throughout)."""
    for table in snap.tables:
        if table.kind not in ("r", "m") or table.extension is not None:
            continue
        if table.relpages * snap.server.block_size < opts["min_table_bytes"]:
            continue
        estimate = estimate_bloat(snap, table)
        if estimate is None:
            continue
        if estimate.ratio < opts["min_bloat_ratio"]:
            continue
        if estimate.wasted_bytes < opts["min_wasted_bytes"]:
            continue
        yield _bloat_issue(table, estimate)


@dataclass(frozen=True)
class BloatEstimate:
    actual_bytes: int
    expected_bytes: int
    row_bytes: int
    fillfactor: int

    @property
    def wasted_bytes(self) -> int:
        return max(0, self.actual_bytes - self.expected_bytes)

    @property
    def ratio(self) -> float:
        return self.wasted_bytes / self.actual_bytes if self.actual_bytes else 0.0


def estimate_bloat(snap: Snapshot, table: Table) -> BloatEstimate | None:
    """Heap size against the size its live rows need; None without statistics to go on."""
    columns = sorted(snap.columns_by_table.get(table.ident, []), key=lambda c: c.num)
    row = _row_bytes(columns)
    if row is None or table.reltuples < 0 or table.relpages <= 0:
        return None
    block = snap.server.block_size
    fillfactor = int_option(table, "fillfactor", 100)
    # inserts leave (100 - fillfactor)% of every page free for later updates
    capacity = block - PAGE_HEADER_BYTES - block * (100 - fillfactor) // 100
    max_per_page = (block - PAGE_HEADER_BYTES) // (MAXALIGN * 3 + LINE_POINTER_BYTES)
    per_page = max(1, min(capacity // (row + LINE_POINTER_BYTES), max_per_page))
    pages = math.ceil(table.reltuples / per_page)
    return BloatEstimate(table.relpages * block, pages * block, row, fillfactor)


def _row_bytes(columns: list[Column]) -> int | None:
    """Average on-page size of a row: header, null bitmap and aligned column data."""
    if not columns:
        return None
    offset = 0.0
    nullable = False
    for col in columns:
        width = col.avg_width
        if width is None:
            if col.type_length is None or col.type_length <= 0:
                return None  # a variable-width column never analyzed: no basis for a guess
            width = col.type_length
        present = 1.0 - (col.null_frac or 0.0)
        nullable = nullable or present < 1.0
        if present >= 0.5:
            offset = _align_up(offset, _alignment(col, width))
        offset += width * present
    header = TUPLE_HEADER_BYTES + (math.ceil(len(columns) / 8) if nullable else 0)
    return int(_align_up(header, MAXALIGN) + _align_up(offset, MAXALIGN))


def _alignment(col: Column, width: int) -> int:
    # short variable-width values (1-byte header, under 127 bytes) are stored unaligned
    if col.type_length is None or col.type_length == -2:
        return 1
    if col.type_length == -1 and width < 127:
        return 1
    return ALIGNMENT.get(col.type_align or "c", 1)


def _align_up(value: float, alignment: int) -> float:
    return math.ceil(value / alignment) * alignment


def _bloat_issue(table: Table, e: BloatEstimate) -> Issue:
    live = table.n_live_tup or 0
    dead = table.n_dead_tup or 0
    dead_share = dead / (live + dead) if live + dead else 0.0
    remedy = (
        f"{dead_share:.0%} of its rows are dead: VACUUM makes their space reusable, and "
        "pg_repack returns the rest to the operating system without blocking writes."
        if dead_share >= 0.2
        else "Reclaim it online with pg_repack; VACUUM FULL also works but holds an ACCESS "
        "EXCLUSIVE lock for the whole rewrite."
    )
    detail = (
        f"About {e.ratio:.0%} of {table.qualified} ({human_bytes(e.wasted_bytes)} of "
        f"{human_bytes(e.actual_bytes)}) is empty space: its {table.reltuples:,.0f} rows "
        f"need about {human_bytes(e.expected_bytes)}. {remedy}"
    )
    evidence = {
        "heap_bytes": e.actual_bytes,
        "expected_bytes": e.expected_bytes,
        "wasted_bytes": e.wasted_bytes,
        "bloat_ratio": round(e.ratio, 3),
        "reltuples": table.reltuples,
        "estimated_row_bytes": e.row_bytes,
        "fillfactor": e.fillfactor,
        "n_dead_tup": dead,
        "dead_share": round(dead_share, 3),
        "last_vacuum": table.last_vacuum,
        "last_autovacuum": table.last_autovacuum,
    }
    verify = render(
        sql.SQL("SELECT pg_size_pretty(pg_relation_size({}::regclass))").format(
            regclass_literal(table.schema, table.name)
        )
    )
    return Issue(table.qualified, detail, evidence, verify=verify)


# -- vacuum_overdue --


@check(
    "vacuum_overdue",
    title="Vacuum overdue",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    options={"margin": 2.0, "min_dead_tuples": 10_000, "grace_minutes": 60},
)
def vacuum_overdue(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """Dead rows that autovacuum has not removed bloat the table and its indexes, slow
    every scan, and leave the visibility map stale (no index-only scans). Flagged when
    dead rows exceed autovacuum's own trigger (threshold + scale factor x rows, per-table
    settings honoured) by a margin and autovacuum is disabled or has not run for a while.
    Run VACUUM now, then re-enable or tune autovacuum for the table."""
    for table in snap.tables:
        if table.kind not in ("r", "m") or table.extension is not None:
            continue
        dead = table.n_dead_tup or 0
        trigger = autovacuum_trigger(snap, table, "vacuum")
        if dead < opts["min_dead_tuples"] or dead <= opts["margin"] * trigger.value:
            continue
        last = latest(table.last_vacuum, table.last_autovacuum)
        enabled = autovacuum_enabled(snap, table)
        if enabled and minutes_since(snap, last) < opts["grace_minutes"]:
            continue  # autovacuum ran recently: the dead rows may be newer than its visit
        yield _vacuum_issue(snap, table, trigger, last, enabled)


def _vacuum_issue(
    snap: Snapshot, table: Table, trigger: Trigger, last: str | None, enabled: bool
) -> Issue:
    dead = table.n_dead_tup or 0
    live = table.n_live_tup or 0
    cause = (
        disabled_reason(snap)
        if not enabled
        else f"autovacuum has not vacuumed it {since_text(snap, last)}"
    )
    detail = (
        f"{dead:,} dead rows ({dead / max(live + dead, 1):.0%} of the table) against an "
        f"autovacuum trigger of {trigger.value:,.0f}; {cause}."
    )
    evidence = {
        "n_dead_tup": dead,
        "n_live_tup": live,
        "autovacuum_trigger": round(trigger.value),
        "vacuum_threshold": trigger.threshold,
        "vacuum_scale_factor": trigger.scale_factor,
        "reltuples": table.reltuples,
        "autovacuum_enabled": enabled,
        "last_vacuum": table.last_vacuum,
        "last_autovacuum": table.last_autovacuum,
        **stats_evidence(snap),
    }
    target = sql.Identifier(table.schema, table.name)
    fix = Fix(sql=render(sql.SQL("VACUUM (ANALYZE) {}").format(target)), transactional=False)
    verify = render(
        sql.SQL("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = {}::regclass").format(
            regclass_literal(table.schema, table.name)
        )
    )
    return Issue(table.qualified, detail, evidence, fix=fix, verify=verify)


# -- stale_statistics --


@check(
    "stale_statistics",
    title="Stale planner statistics",
    category=Category.PERFORMANCE,
    severity=Severity.MEDIUM,
    options={"margin": 2.0, "min_modified_rows": 1000, "min_rows": 1000, "grace_minutes": 60},
)
def stale_statistics(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """The planner chooses join orders and indexes from ANALYZE statistics; a table never
    analyzed, or changed far beyond autoanalyze's trigger (threshold + scale factor x rows,
    per-table settings honoured) since, gets misestimated plans that can be orders of
    magnitude slower. Run ANALYZE on it, then check why autovacuum did not."""
    for table in snap.tables:
        if table.kind not in ("r", "m") or table.extension is not None:
            continue
        issue = _never_analyzed(snap, table, opts) or _stale_analyze(snap, table, opts)
        if issue is not None:
            yield issue


def _never_analyzed(snap: Snapshot, table: Table, opts: Options) -> Issue | None:
    if table.last_analyze or table.last_autoanalyze:
        return None
    columns = snap.columns_by_table.get(table.ident, [])
    if not columns or any(c.avg_width is not None for c in columns):
        return None  # statistics exist (they outlive a reset of the activity counters)
    rows = max(table.n_live_tup or 0, int(table.reltuples))
    if rows < opts["min_rows"]:
        return None
    detail = (
        f"{table.qualified} holds about {rows:,} rows but has never been analyzed, so the "
        "planner guesses its row counts and value distributions."
    )
    evidence = {
        "rows": rows,
        "n_mod_since_analyze": table.n_mod_since_analyze,
        "last_analyze": None,
        "last_autoanalyze": None,
        "autovacuum_enabled": autovacuum_enabled(snap, table),
        **stats_evidence(snap),
    }
    return _analyze_issue(table, detail, evidence)


def _stale_analyze(snap: Snapshot, table: Table, opts: Options) -> Issue | None:
    modified = table.n_mod_since_analyze or 0
    trigger = autovacuum_trigger(snap, table, "analyze")
    if modified < opts["min_modified_rows"] or modified <= opts["margin"] * trigger.value:
        return None
    last = latest(table.last_analyze, table.last_autoanalyze)
    enabled = autovacuum_enabled(snap, table)
    if enabled and minutes_since(snap, last) < opts["grace_minutes"]:
        return None
    cause = disabled_reason(snap) if not enabled else f"last analyzed {since_text(snap, last)}"
    detail = (
        f"{modified:,} rows changed since the last ANALYZE, against an autoanalyze trigger "
        f"of {trigger.value:,.0f}; {cause}."
    )
    evidence = {
        "n_mod_since_analyze": modified,
        "autoanalyze_trigger": round(trigger.value),
        "analyze_threshold": trigger.threshold,
        "analyze_scale_factor": trigger.scale_factor,
        "reltuples": table.reltuples,
        "autovacuum_enabled": enabled,
        "last_analyze": table.last_analyze,
        "last_autoanalyze": table.last_autoanalyze,
        **stats_evidence(snap),
    }
    return _analyze_issue(table, detail, evidence)


def _analyze_issue(table: Table, detail: str, evidence: dict[str, Any]) -> Issue:
    fix = Fix(sql=render(sql.SQL("ANALYZE {}").format(sql.Identifier(table.schema, table.name))))
    verify = render(
        sql.SQL(
            "SELECT n_mod_since_analyze, last_analyze FROM pg_stat_user_tables "
            "WHERE relid = {}::regclass"
        ).format(regclass_literal(table.schema, table.name))
    )
    return Issue(table.qualified, detail, evidence, fix=fix, verify=verify)
