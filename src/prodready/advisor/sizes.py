"""Table statistics and index size estimates that account for B-tree deduplication.

HypoPG sizes an index as rows x key width, which ignores PostgreSQL 13+'s posting lists:
on a foreign key with a few hundred distinct values the real index is several times smaller.
Here every distinct key value (from pg_stats n_distinct and most-common values) becomes
one or more posting-list tuples, packed into leaf pages filled to 90% as CREATE INDEX does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prodready.advisor.analysis import TableName

BLOCK = 8192
PAGE_USABLE = BLOCK - 24 - 16  # page header and btree special space
LEAF_FILL = 0.90  # CREATE INDEX packs leaf pages to the default fillfactor
INNER_FILL = 0.70  # and internal pages to 70% (BTREE_NONLEAF_FILLFACTOR)
TUPLE_HEADER = 8  # IndexTupleData: heap TID + t_info
NULL_BITMAP = 4
ITEM_ID = 4
TID = 6
# nbtsort caps a posting list at 10% of a page during CREATE INDEX
MAX_POSTING = (BLOCK * 10 // 100) // 8 * 8 - ITEM_ID
MAXALIGN = 8
# types whose equal values can differ in bytes (or have no stable equality): no deduplication
NO_DEDUP_TYPES = ("numeric", "jsonb", "real", "double precision", "json", "point", "box")
GIN_FACTOR = {"fulltext": 0.6, "trigram": 2.0, "jsonb": 0.8}
SAMPLE_ROWS = 30_000  # ANALYZE samples 300 x default_statistics_target (100) rows
CLUSTERED = 0.25  # correlation² above which a column counts as physically ordered
FEW_DUPLICATES = 64  # rows per value below which the n_distinct estimate matters


@dataclass(frozen=True)
class ColumnStats:
    """One column: its type's storage and its pg_stats row (None when not analyzed)."""

    name: str
    type: str
    typlen: int | None = None
    typalign: str | None = None
    not_null: bool = False
    avg_width: int | None = None
    null_frac: float | None = None
    n_distinct: float | None = None  # as pg_stats: negative = fraction of rows
    correlation: float | None = None
    mcv: tuple[str, ...] = ()
    mcf: tuple[float, ...] = ()

    def width(self) -> int:
        if self.typlen is not None and self.typlen > 0:
            return self.typlen
        return self.avg_width or 16

    def align(self) -> int:
        if self.typlen is not None and self.typlen < 0 and self.width() < 127:
            return 1  # short varlena headers are not aligned
        return {"c": 1, "s": 2, "i": 4, "d": 8}.get(self.typalign or "i", 4)

    @property
    def dedups(self) -> bool:
        kind = self.type.lower()
        return not (kind.endswith("]") or kind.startswith(NO_DEDUP_TYPES) or "range" in kind)


@dataclass(frozen=True)
class TableStats:
    table: TableName
    kind: str  # pg_class.relkind
    reltuples: float
    relpages: int
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    n_indexes: int = 0
    # columns of primary, unique and foreign keys: values name rows, not categories
    identifiers: frozenset[str] = frozenset()

    @property
    def rows(self) -> float:
        return max(self.reltuples, 0.0)

    def distinct(self, column: str) -> float | None:
        """Absolute number of distinct non-null values, or None when unknown."""
        stats = self.columns.get(column)
        if stats is None or stats.n_distinct is None:
            return None
        if stats.n_distinct < 0:
            return max(1.0, -stats.n_distinct * self.rows)
        return max(1.0, stats.n_distinct)

    def sampled_distinct(self, column: str) -> float | None:
        """Distinct values, corrected for ANALYZE's two-stage sample on an ordered column.

        When a table has more pages than ANALYZE samples rows, the rows come from a subset
        of the pages; on a physically ordered column (a foreign key loaded in order) rows
        sharing a page share values, the sample sees extra duplicates and n_distinct comes
        out several times too low (TPC-H l_orderkey: 392,000 for 1,500,000). Inverting the
        Haas-Stokes estimator ANALYZE uses, with those extra page-mates, recovers the count.
        """
        estimate = self.distinct(column)
        stats = self.columns.get(column)
        rows, pages, n = self.rows, float(self.relpages), float(SAMPLE_ROWS)
        if estimate is None or stats is None or rows <= n or pages <= n or estimate >= rows:
            return estimate
        weight = (stats.correlation or 0.0) ** 2
        if weight < CLUSTERED or rows / estimate > FEW_DUPLICATES:
            return estimate
        per_page = rows / pages
        # page-mate pairs in the sample beyond what uniform row sampling would give
        uniform = pages * per_page * (per_page - 1) / 2 * (n / rows) ** 2
        extra = (pages / n - 1) * uniform * weight

        def predicted(group: float) -> float:
            random = n * (n - 1) / 2 * (group - 1) / (rows - 1)
            dup = random + extra * min(1.0, (group - 1) / max(per_page - 1, 1.0))
            seen, once = max(1.0, n - dup), max(0.0, n - 2 * dup)
            return n * seen / (n - once + once * n / rows)

        low, high = 1.0, rows / estimate  # the true group size is at most the estimated one
        if predicted(high) >= estimate:
            return estimate
        for _ in range(50):
            middle = (low + high) / 2
            low, high = (middle, high) if predicted(middle) > estimate else (low, middle)
        return rows / ((low + high) / 2)

    def selectivity(self, column: str, kind: str, values: tuple[str, ...]) -> float | None:
        """Share of rows a literal predicate on `column` keeps, from pg_stats; None if unknown."""
        stats = self.columns.get(column)
        if stats is None or stats.null_frac is None:
            return None
        if kind == "null":
            return stats.null_frac
        if kind == "notnull":
            return 1.0 - stats.null_frac
        return min(1.0, sum(self.value_frequency(stats, v) for v in values))

    def value_frequency(self, stats: ColumnStats, value: str) -> float:
        if value in stats.mcv:
            return stats.mcf[stats.mcv.index(value)]
        distinct = self.distinct(stats.name) or 200.0
        rest = max(0.0, 1.0 - sum(stats.mcf) - (stats.null_frac or 0.0))
        return rest / max(1.0, distinct - len(stats.mcv))


@dataclass(frozen=True)
class KeyWidth:
    """A key or INCLUDE column as the estimator sees it."""

    width: int
    align: int
    null_frac: float
    column: str | None  # None for expressions: distinct values unknown


def btree_bytes(
    table: TableStats,
    keys: list[KeyWidth],
    include: list[KeyWidth] = (),  # type: ignore[assignment]
    *,
    selectivity: float = 1.0,
    dedup: bool = True,
) -> int:
    """Estimated size on disk of a freshly built B-tree index."""
    rows = table.rows * max(0.0, min(1.0, selectivity))
    if rows < 1:
        return 2 * BLOCK  # metapage and an empty root
    key_data = _data_width(keys)
    leaf_data = _data_width([*keys, *include])
    # only tuples holding a NULL carry the null bitmap
    with_null = 1.0 - math.prod([1.0 - k.null_frac for k in [*keys, *include]])
    header = TUPLE_HEADER + with_null * NULL_BITMAP
    plain = _maxalign(_maxalign(header) + leaf_data) + ITEM_ID
    groups = _duplicate_groups(table, keys, rows) if dedup and not include else None
    if groups is None:
        leaf_bytes = rows * plain
    else:
        base = _maxalign(_maxalign(header) + key_data)
        leaf_bytes = sum(count * _group_bytes(size, base, plain) for size, count in groups)
    leaf_pages = max(1.0, math.ceil(leaf_bytes / (PAGE_USABLE * LEAF_FILL)))
    pivot = _maxalign(_maxalign(TUPLE_HEADER) + key_data) + ITEM_ID
    pages = leaf_pages + _inner_pages(leaf_pages, pivot) + 1  # + metapage
    return int(pages * BLOCK)


def gin_bytes(table: TableStats, kind: str, column: str | None) -> int:
    """A rough GIN size (HypoPG cannot build these; the figure is labelled unvalidated)."""
    width = table.columns[column].width() if column and column in table.columns else 32
    return int(max(2 * BLOCK, table.rows * width * GIN_FACTOR.get(kind, 1.0)))


def _data_width(columns: list[KeyWidth]) -> int:
    offset = 0
    for col in columns:
        offset = _align(offset, col.align) + col.width
    return offset


def _duplicate_groups(
    table: TableStats, keys: list[KeyWidth], rows: float
) -> list[tuple[float, float]] | None:
    """(rows per distinct key, number of such keys) pairs, or None when dedup cannot apply."""
    if any(k.column is None for k in keys):
        return None
    stats = [table.columns.get(k.column or "") for k in keys]
    if any(s is None or not s.dedups for s in stats):
        return None
    if len(keys) == 1:
        return _single_column_groups(table, stats[0], rows)  # type: ignore[arg-type]
    distinct = 1.0
    for key in keys:
        found = table.sampled_distinct(key.column or "")
        if found is None:
            return None
        distinct *= found
    distinct = min(rows, distinct)
    return [(rows / distinct, distinct)]


def _single_column_groups(
    table: TableStats, stats: ColumnStats, rows: float
) -> list[tuple[float, float]] | None:
    distinct = table.sampled_distinct(stats.name)
    if distinct is None:
        return None
    scale = rows / table.rows if table.rows else 1.0  # partial index: fewer rows per value
    groups = [(f * table.rows * scale, 1.0) for f in stats.mcf]
    nulls = (stats.null_frac or 0.0) * rows
    if nulls >= 1:
        groups.append((nulls, 1.0))  # NULLs deduplicate with each other
    rest_rows = max(0.0, rows - sum(size for size, _ in groups))
    rest_keys = max(1.0, distinct - len(stats.mcf))
    if rest_rows >= 1:
        groups.append((max(1.0, rest_rows / rest_keys), min(rest_keys, rest_rows)))
    return groups


def _group_bytes(size: float, base: float, plain: float) -> float:
    """Leaf bytes of `size` duplicates of one key: posting lists of at most MAX_POSTING bytes."""
    if size < 1.5:
        return size * plain
    per_posting = max(2, (MAX_POSTING - base) // TID)
    full, rest = divmod(size, per_posting)
    posting = _maxalign(base + per_posting * TID) + ITEM_ID
    tail = 0.0
    if rest >= 1.5:
        tail = _maxalign(base + math.ceil(rest) * TID) + ITEM_ID
    elif rest > 0:
        tail = rest * plain
    return full * posting + tail


def _inner_pages(leaf_pages: float, pivot: float) -> float:
    per_page = max(2, int(PAGE_USABLE * INNER_FILL) // pivot)
    total, level = 0.0, leaf_pages
    while level > 1:
        level = math.ceil(level / per_page)
        total += level
    return total


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def _maxalign(size: float) -> float:
    """MAXALIGN of a size, linear between alignments when `size` is an average."""
    whole = math.floor(size)
    low = _align(whole, MAXALIGN)
    if size == whole:
        return float(low)
    high = _align(whole + 1, MAXALIGN)
    return low + (high - low) * (size - whole)
