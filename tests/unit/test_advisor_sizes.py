"""The B-tree size model: deduplication, INCLUDE, NULLs, partial indexes, multi-column keys.

Reference sizes are what PostgreSQL 15 built for 500,000 rows on this machine (see the
integration test that measures them live)."""

from __future__ import annotations

import pytest

from prodready.advisor.analysis import TableName
from prodready.advisor.sizes import (
    BLOCK,
    ColumnStats,
    KeyWidth,
    TableStats,
    btree_bytes,
    gin_bytes,
)

ROWS = 500_000.0


def stats(**columns: ColumnStats) -> TableStats:
    return TableStats(TableName("public", "items"), "r", ROWS, 5000, dict(columns))


def int4(name: str, distinct: float, **kw: object) -> ColumnStats:
    return ColumnStats(name, "integer", 4, "i", True, 4, 0.0, distinct, **kw)  # type: ignore[arg-type]


def key(column: ColumnStats) -> KeyWidth:
    return KeyWidth(column.width(), column.align(), column.null_frac or 0.0, column.name)


ID = ColumnStats("id", "bigint", 8, "d", True, 8, 0.0, -1.0)
FK = int4("order_id", 166_667.0)  # three rows per value
LOW = int4("product_id", 301.0)
PRICE = ColumnStats("price", "numeric", -1, "i", True, 6, 0.0, 1000.0)
STATUS = ColumnStats(
    "status", "text", -1, "i", True, 8, 0.0, 4.0,
    mcv=("delivered", "paid", "pending", "shipped"), mcf=(0.25, 0.25, 0.25, 0.25),
)  # fmt: skip
TABLE = stats(id=ID, order_id=FK, product_id=LOW, price=PRICE, status=STATUS)


@pytest.mark.parametrize(
    ("columns", "real"),
    [
        ([ID], 11_255_808),
        ([FK], 8_224_768),
        ([LOW], 3_620_864),
        ([STATUS], 3_506_176),
        ([PRICE], 11_272_192),
        ([LOW, STATUS], 3_588_096),
    ],
)
def test_estimates_are_close_to_what_postgresql_builds(
    columns: list[ColumnStats], real: int
) -> None:
    estimate = btree_bytes(TABLE, [key(c) for c in columns])
    assert 0.9 < estimate / real < 1.1


def test_deduplication_shrinks_low_cardinality_keys() -> None:
    unique = btree_bytes(TABLE, [key(ID)])
    low = btree_bytes(TABLE, [key(LOW)])
    assert unique / low > 3


def test_include_columns_disable_deduplication_and_add_width() -> None:
    plain = btree_bytes(TABLE, [key(LOW)])
    covering = btree_bytes(TABLE, [key(LOW)], [key(ID)])
    assert covering > 3 * plain


def test_numeric_does_not_deduplicate() -> None:
    assert btree_bytes(TABLE, [key(PRICE)]) == btree_bytes(TABLE, [key(PRICE)], dedup=False)


def test_partial_index_is_proportional_to_its_rows() -> None:
    full = btree_bytes(TABLE, [key(ID)])
    partial = btree_bytes(TABLE, [key(ID)], selectivity=0.02)
    assert 0.015 < partial / full < 0.03


def test_nulls_only_cost_a_bitmap_on_the_tuples_that_hold_them() -> None:
    some = ColumnStats("shipped_at", "timestamptz", 8, "d", False, 8, 0.0, -1.0)
    half = ColumnStats("shipped_at", "timestamptz", 8, "d", False, 8, 0.5, -0.5)
    assert btree_bytes(stats(shipped_at=some), [key(some)]) == btree_bytes(TABLE, [key(ID)])
    # half the rows are NULL: one posting list for them, a bitmap on those tuples only
    assert btree_bytes(stats(shipped_at=half), [key(half)]) < btree_bytes(TABLE, [key(ID)])


def test_empty_table_and_expressions() -> None:
    empty = TableStats(TableName("public", "e"), "r", 0.0, 0, {"id": ID})
    assert btree_bytes(empty, [key(ID)]) == 2 * BLOCK
    expression = KeyWidth(8, 8, 0.0, None)  # unknown distinct values: no deduplication
    assert btree_bytes(TABLE, [expression]) == btree_bytes(TABLE, [key(ID)], dedup=False)


def test_selectivity_from_most_common_values() -> None:
    skewed = ColumnStats(
        "status", "text", -1, "i", True, 8, 0.0, 5.0,
        mcv=("delivered", "paid", "pending"), mcf=(0.7, 0.2, 0.02),
    )  # fmt: skip
    table = stats(status=skewed)
    assert table.selectivity("status", "eq", ("pending",)) == 0.02
    assert table.selectivity("status", "in", ("paid", "pending")) == pytest.approx(0.22)
    # not listed: the rest spread over the other distinct values
    assert table.selectivity("status", "eq", ("lost",)) == pytest.approx(0.08 / 2)
    assert table.distinct("status") == 5.0
    assert stats(id=ID).distinct("id") == ROWS


def test_gin_estimate_is_rough_but_positive() -> None:
    assert gin_bytes(TABLE, "trigram", "status") > btree_bytes(TABLE, [key(STATUS)])


def test_distinct_count_corrected_for_analyze_sampling_on_ordered_columns() -> None:
    """TPC-H SF1 lineitem.l_orderkey: 6M rows on 112,503 pages, physically ordered,
    1.5M distinct values; ANALYZE's sample reports about 392,000."""

    def table(pages: int, correlation: float, n_distinct: float) -> TableStats:
        column = ColumnStats("k", "integer", 4, "i", True, 4, 0.0, n_distinct, correlation)
        return TableStats(TableName("public", "l"), "r", 6_001_215.0, pages, {"k": column})

    corrected = table(112_503, 1.0, 392_333.0).sampled_distinct("k")
    assert corrected is not None and 1_100_000 < corrected < 1_800_000
    # not ordered on disk, or every page read by ANALYZE: the estimate stands
    assert table(112_503, 0.01, 392_333.0).sampled_distinct("k") == 392_333.0
    assert table(20_000, 1.0, 392_333.0).sampled_distinct("k") == 392_333.0
    # hundreds of rows per value: deduplication is certain either way
    assert table(112_503, 1.0, 10_000.0).sampled_distinct("k") == 10_000.0
