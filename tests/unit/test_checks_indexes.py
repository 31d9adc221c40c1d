"""Index checks from hand-built snapshots: unindexed foreign keys, and unused, duplicate,
redundant and invalid indexes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.indexes import concurrent_definition, index_name
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f

MIB = 1024 * 1024
YOUNG_STATS = "2026-01-30T12:00:00+00:00"  # one day before factories.COLLECTED_AT


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


def fk(columns: list[str], name: str = "orders_buyer_fkey", **kw: Any) -> s.Constraint:
    base: dict[str, Any] = dict(
        table="orders", columns=columns, ref_schema="public", ref_table="users",
        ref_columns=["id"] * len(columns),
    )  # fmt: skip
    return f.constraint(name, **{**base, **kw})


def btree(name: str, columns: list[str], table: str = "t", **kw: Any) -> s.Index:
    """An index whose definition reads like pg_get_indexdef's."""
    unique = "UNIQUE " if kw.get("is_unique") else ""
    definition = f"CREATE {unique}INDEX {name} ON public.{table} USING btree ({', '.join(columns)})"
    keys = kw.get("n_key_columns", len(columns))  # per-key arrays skip INCLUDE columns
    per_key = {"options": [0] * keys, "opclasses": ["int4_ops"] * keys, "collations": [None] * keys}
    return f.index(name, table, columns, **{"definition": definition, **per_key, **kw})


def activity(query: str | None, **kw: Any) -> s.Activity:
    """A session running `query`, waiting as concurrent index builds do."""
    base: dict[str, Any] = dict(application_name="psql", state="active", xact_age_s=5.0,
                                query_age_s=5.0, state_age_s=5.0, wait_event_type="Lock",
                                wait_event="virtualxid", query=query)  # fmt: skip
    return f.activity(42, **{**base, **kw})


# -- unindexed_foreign_key --


def fk_snap(indexes: list[s.Index], rows: float = 5000.0, **kw: Any) -> s.Snapshot:
    tables = kw.pop("tables", [f.table("orders", reltuples=rows), f.table("users")])
    constraints = kw.pop("constraints", [fk(["buyer_id"])])
    return f.snapshot(tables=tables, constraints=constraints, indexes=indexes, **kw)


def test_fk_without_index_fires_with_concurrent_fix() -> None:
    [found] = run("unindexed_foreign_key", fk_snap([btree("orders_pkey", ["id"], "orders")]))
    assert found.object == "public.orders (buyer_id)"
    assert found.severity is Severity.MEDIUM
    assert found.evidence["rows"] == 5000
    assert found.evidence["referenced_tables"] == ["public.users"]
    assert found.evidence["constraints"] == ["orders_buyer_fkey"]
    assert found.fix is not None and found.fix.transactional is False
    assert found.fix.sql == (
        'CREATE INDEX CONCURRENTLY "orders_buyer_id_idx" ON "public"."orders" ("buyer_id")'
    )
    assert found.fix.rollback_sql == 'DROP INDEX CONCURRENTLY "public"."orders_buyer_id_idx"'
    assert found.verify is not None and '\'"public"."orders_buyer_id_idx"\'' in found.verify


@pytest.mark.parametrize(
    "index",
    [
        btree("a", ["buyer_id"], "orders"),
        btree("b", ["buyer_id", "created_at"], "orders"),
        btree("c", ["buyer_id"], "orders", is_unique=True),
        f.index("h", "orders", ["buyer_id"], method="hash"),
        btree("p", ["buyer_id"], "orders", predicate="(buyer_id IS NOT NULL)"),
    ],
    ids=["exact", "leading", "unique", "hash", "partial-not-null"],
)
def test_fk_covered_by_leading_index_is_silent(index: s.Index) -> None:
    assert run("unindexed_foreign_key", fk_snap([index])) == []


@pytest.mark.parametrize(
    "index",
    [
        btree("a", ["created_at", "buyer_id"], "orders"),
        btree("b", ["buyer_id"], "orders", predicate="(deleted_at IS NULL)"),
        btree("n", ["buyer_id"], "orders", predicate="((buyer_id IS NOT NULL) OR (x > 1))"),
        btree("o", ["buyer_id"], "orders", predicate="(other_id IS NOT NULL)"),
        btree("c", ["buyer_id"], "orders", is_valid=False),
        f.index("d", "orders", ["lower(buyer_id)"], attnums=[0]),
        f.index("e", "orders", ["buyer_id"], method="gin"),
        f.index("x", "users", ["buyer_id"]),
    ],
    ids=["not-leading", "partial", "partial-or", "partial-other-column", "invalid",
         "expression", "gin", "other-table"],
)  # fmt: skip
def test_fk_with_unusable_index_fires(index: s.Index) -> None:
    assert [x.object for x in run("unindexed_foreign_key", fk_snap([index]))] == [
        "public.orders (buyer_id)"
    ]


def test_multicolumn_fk_matches_leading_set_in_any_order() -> None:
    constraints = [fk(["tenant_id", "buyer_id"])]
    covered = btree("x", ["buyer_id", "tenant_id", "created_at"], "orders")
    assert run("unindexed_foreign_key", fk_snap([covered], constraints=constraints)) == []
    gap = btree("y", ["tenant_id", "created_at", "buyer_id"], "orders")
    [found] = run("unindexed_foreign_key", fk_snap([gap], constraints=constraints))
    assert found.object == "public.orders (tenant_id, buyer_id)"
    assert found.fix is not None and found.fix.sql.endswith('("tenant_id", "buyer_id")')


def test_composite_fk_partial_not_null_conjunction_covers() -> None:
    constraints = [fk(["tenant_id", "buyer_id"])]
    predicate = "((tenant_id IS NOT NULL) AND (buyer_id IS NOT NULL))"
    covered = btree("x", ["tenant_id", "buyer_id"], "orders", predicate=predicate)
    assert run("unindexed_foreign_key", fk_snap([covered], constraints=constraints)) == []


def test_composite_fk_with_single_column_indexes_is_partly_served() -> None:
    constraints = [fk(["tenant_id", "buyer_id"])]
    singles = [btree("t", ["tenant_id"], "orders"), btree("b", ["buyer_id"], "orders")]
    [found] = run("unindexed_foreign_key", fk_snap(singles, constraints=constraints))
    assert found.evidence["partly_served_by"] == ["b", "t"]
    assert "partly" not in found.detail and "scans" not in found.detail
    assert "part of the key" in found.detail
    assert found.severity is Severity.LOW  # a 5,000-row table: medium when unserved
    [unserved] = run("unindexed_foreign_key", fk_snap([], constraints=constraints))
    assert unserved.severity is Severity.MEDIUM and "scans its 5,000 rows" in unserved.detail


def test_fks_on_the_same_columns_share_one_finding() -> None:
    constraints = [fk(["buyer_id"], "a_fkey"), fk(["buyer_id"], "b_fkey", ref_table="people")]
    [found] = run("unindexed_foreign_key", fk_snap([], constraints=constraints))
    assert found.evidence["constraints"] == ["a_fkey", "b_fkey"]
    assert found.evidence["referenced_tables"] == ["public.people", "public.users"]


@pytest.mark.parametrize(
    ("rows", "severity"),
    [(10.0, Severity.LOW), (999.0, Severity.LOW), (1000.0, Severity.MEDIUM),
     (2_000_000.0, Severity.HIGH), (-1.0, Severity.MEDIUM)],
)  # fmt: skip
def test_fk_severity_follows_table_size(rows: float, severity: Severity) -> None:
    [found] = run("unindexed_foreign_key", fk_snap([], rows=rows))
    assert found.severity is severity


def test_fk_severity_thresholds_are_configurable() -> None:
    [found] = run("unindexed_foreign_key", fk_snap([], rows=5000.0), large_table_rows=5000)
    assert found.severity is Severity.HIGH


def test_fk_index_name_avoids_existing_relations() -> None:
    taken = btree("orders_buyer_id_idx", ["note"], "orders")
    tables = [f.table("orders"), f.table("users"), f.table("orders_buyer_id_idx1")]
    [found] = run("unindexed_foreign_key", fk_snap([taken], tables=tables))
    assert found.fix is not None and '"orders_buyer_id_idx2"' in found.fix.sql


def test_fk_on_extension_or_locked_table_is_silent() -> None:
    owned = [f.table("orders", extension="postgis"), f.table("users")]
    assert run("unindexed_foreign_key", fk_snap([], tables=owned)) == []
    locked = fk_snap([], locked_tables=["public.orders"])
    assert run("unindexed_foreign_key", locked) == []


def partitioned(child_indexes: list[list[s.Index]]) -> s.Snapshot:
    tables = [f.table("orders", kind="p", reltuples=-1.0, total_bytes=None), f.table("users")]
    indexes: list[s.Index] = []
    for n, found in enumerate(child_indexes):
        name = f"orders_{n}"
        tables.append(
            f.table(name, is_partition=True, parent_schema="public", parent_name="orders",
                    reltuples=100.0, total_bytes=8192)
        )  # fmt: skip
        indexes += [replace(i, table=name) for i in found]
    return fk_snap(indexes, tables=tables)


def test_fk_on_partitioned_table_gets_a_plain_reviewed_create_index() -> None:
    [found] = run("unindexed_foreign_key", partitioned([[], []]))
    assert found.evidence["rows"] == 200 and found.evidence["total_bytes"] == 16384
    assert found.severity is Severity.LOW
    assert found.fix is not None
    assert found.fix.sql == 'CREATE INDEX "orders_buyer_id_idx" ON "public"."orders" ("buyer_id")'
    assert found.fix.rollback_sql == 'DROP INDEX "public"."orders_buyer_id_idx"'
    assert found.fix.transactional and found.fix.needs_review
    assert "CONCURRENTLY" in found.detail  # explains the per-partition alternative


def test_fk_on_partitioned_table_covered_on_every_leaf_is_silent() -> None:
    leaf = btree("leaf_buyer", ["buyer_id"])
    assert run("unindexed_foreign_key", partitioned([[leaf], [leaf]])) == []
    assert len(run("unindexed_foreign_key", partitioned([[leaf], []]))) == 1


def test_index_names_fit_in_63_bytes_and_are_deterministic() -> None:
    assert index_name("orders_buyer_id", "_idx") == "orders_buyer_id_idx"
    long = "t" * 60 + "_buyer_id"
    name = index_name(long, "_idx")
    assert len(name.encode()) <= 63 and name.endswith("_idx") and name == index_name(long, "_idx")
    assert name != index_name("t" * 60 + "_seller_id", "_idx")
    unicode = "ü" * 40 + "_col"  # two bytes a character: the cut must not split one
    cut = index_name(unicode, "_idx1")
    assert len(cut.encode()) <= 63 and cut.encode().decode() == cut and cut.endswith("_idx1")


# -- unused_index --


def unused_snap(*indexes: s.Index, stats_reset: str | None = None, **kw: Any) -> s.Snapshot:
    return f.snapshot(
        database=f.database(stats_reset=stats_reset, size_bytes=kw.pop("db_size", 10**10)),
        tables=kw.pop("tables", [f.table("t", n_tup_ins=500)]),
        indexes=list(indexes),
        **kw,
    )


def test_unused_index_with_young_stats_is_info_with_its_age() -> None:
    snap = unused_snap(btree("t_a_idx", ["a"], size_bytes=500 * MIB), stats_reset=YOUNG_STATS)
    [found] = run("unused_index", snap)
    assert found.object == "public.t_a_idx" and found.severity is Severity.INFO
    assert found.evidence["stats_age_days"] == 1.0
    assert found.evidence["stats_since"] == YOUNG_STATS
    assert "in the 24 hours since statistics began" in found.detail


@pytest.mark.parametrize(
    ("size", "severity"),
    [(8192, Severity.INFO), (2 * MIB, Severity.LOW), (200 * MIB, Severity.MEDIUM)],
)
def test_unused_index_with_old_stats_is_weighed_by_size(size: int, severity: Severity) -> None:
    [found] = run("unused_index", unused_snap(btree("t_a_idx", ["a"], size_bytes=size)))
    assert found.severity is severity
    assert found.evidence["stats_age_days"] == 30.5
    assert found.evidence["idx_scan"] == 0 and found.evidence["table_writes"] == 500


def test_unused_index_large_share_of_database_is_medium() -> None:
    snap = unused_snap(btree("t_a_idx", ["a"], size_bytes=6 * MIB), db_size=100 * MIB)
    assert run("unused_index", snap)[0].severity is Severity.MEDIUM
    assert run("unused_index", snap, medium_db_fraction=0.5)[0].severity is Severity.LOW


def test_unused_index_fix_drops_concurrently_and_rollback_recreates() -> None:
    [found] = run("unused_index", unused_snap(btree("t_a_idx", ["a"])))
    assert found.fix is not None and found.fix.transactional is False
    assert found.fix.sql == 'DROP INDEX CONCURRENTLY "public"."t_a_idx"'
    assert found.fix.rollback_sql == "CREATE INDEX CONCURRENTLY t_a_idx ON public.t USING btree (a)"


@pytest.mark.parametrize(
    "index",
    [
        btree("scanned", ["a"], idx_scan=3),
        btree("no_stats", ["a"], idx_scan=None),
        btree("uniq", ["a"], is_unique=True),
        btree("pk", ["id"], is_primary=True, is_unique=True, constraint_name="t_pkey"),
        btree("excl", ["a"], is_exclusion=True, constraint_name="t_excl"),
        btree("broken", ["a"], is_valid=False),
        btree("ext", ["a"], extension="postgis"),
        btree("attached", ["a"], parent_index="public.parent_idx"),
    ],
    ids=["scanned", "no-stats", "unique", "pk", "exclusion", "invalid", "extension", "attached"],
)
def test_unused_index_leaves_these_alone(index: s.Index) -> None:
    assert run("unused_index", unused_snap(index)) == []


def test_unused_index_on_partitioned_parent_is_silent() -> None:
    snap = unused_snap(btree("p_a_idx", ["a"]), tables=[f.table("t", kind="p")])
    assert run("unused_index", snap) == []


def partition_tree(*child_scans: int | None) -> s.Snapshot:
    parent = btree("p_a", ["a"], table="p", idx_scan=None, size_bytes=0,
                   definition="CREATE INDEX p_a ON ONLY public.p USING btree (a)")  # fmt: skip
    tables = [f.table("p", kind="p")]
    indexes = [parent]
    for n, scans in enumerate(child_scans):
        tables.append(f.table(f"p{n}", is_partition=True, parent_schema="public", parent_name="p"))
        indexes.append(btree(f"p{n}_a", ["a"], table=f"p{n}", idx_scan=scans,
                             size_bytes=3 * MIB, parent_index="public.p_a"))  # fmt: skip
    return unused_snap(*indexes, tables=tables)


def test_unused_partitioned_index_sums_its_partitions() -> None:
    [found] = run("unused_index", partition_tree(0, 0))
    assert found.object == "public.p_a" and found.severity is Severity.LOW
    assert found.evidence["size_bytes"] == 6 * MIB and found.evidence["partitioned"] is True
    assert found.fix is not None and found.fix.transactional and found.fix.needs_review
    assert found.fix.sql == 'DROP INDEX "public"."p_a"'
    assert found.fix.rollback_sql == "CREATE INDEX p_a ON public.p USING btree (a)"
    assert run("unused_index", partition_tree(0, 4)) == []
    assert run("unused_index", partition_tree(0, None)) == []


def test_unused_duplicate_is_left_to_duplicate_index() -> None:
    snap = unused_snap(btree("t_a1", ["a"]), btree("t_a2", ["a"]), btree("t_b", ["b"]),
                       btree("t_b_c", ["b", "c"], idx_scan=9))  # fmt: skip
    assert [x.object for x in run("unused_index", snap)] == ["public.t_a1"]


def test_concurrent_definition_handles_unique_and_partitioned_indexes() -> None:
    unique = btree("u", ["a"], is_unique=True)
    assert concurrent_definition(unique).startswith("CREATE UNIQUE INDEX CONCURRENTLY u ON")
    parent = btree(
        "Odd ON ONLY x",
        ["a"],
        definition='CREATE INDEX "Odd ON ONLY x" ON ONLY public.t USING btree (a)',
    )
    assert concurrent_definition(parent) == (
        'CREATE INDEX CONCURRENTLY "Odd ON ONLY x" ON public.t USING btree (a)'
    )


# -- duplicate_index --


def test_duplicate_index_drops_the_later_copy() -> None:
    snap = unused_snap(btree("t_a_idx", ["a"], idx_scan=5), btree("t_a_idx2", ["a"], idx_scan=1))
    [found] = run("duplicate_index", snap)
    assert found.object == "public.t_a_idx2" and found.severity is Severity.MEDIUM
    assert found.evidence["duplicate_of"] == "public.t_a_idx"
    assert found.evidence["idx_scan"] == 1 and found.evidence["kept_idx_scan"] == 5
    assert found.fix is not None and found.fix.sql == 'DROP INDEX CONCURRENTLY "public"."t_a_idx2"'
    assert found.fix.rollback_sql == (
        "CREATE INDEX CONCURRENTLY t_a_idx2 ON public.t USING btree (a)"
    )


@pytest.mark.parametrize(
    "other",
    [
        btree("z", ["a"], opclasses=["int4_minmax_ops"]),
        btree("z", ["a"], collations=["C"]),
        btree("z", ["a"], options=[3]),
        btree("z", ["a"], predicate="(a > 0)"),
        btree("z", ["a", "b"], n_key_columns=1),
        f.index("z", "t", ["a"], method="hash"),
        btree("z", ["b"]),
        btree("z", ["a", "b"]),
    ],
    ids=["opclass", "collation", "desc", "predicate", "include", "method", "column", "wider"],
)
def test_indexes_that_differ_are_not_duplicates(other: s.Index) -> None:
    assert run("duplicate_index", unused_snap(btree("a_idx", ["a"]), other)) == []


def test_duplicate_of_primary_key_drops_the_plain_unique_index() -> None:
    pk = btree("t_pkey", ["id"], is_primary=True, is_unique=True, constraint_name="t_pkey",
               constraint_type="p")  # fmt: skip
    extra = btree("a_extra", ["id"], is_unique=True)
    [found] = run("duplicate_index", unused_snap(pk, extra))
    assert found.object == "public.a_extra" and found.evidence["duplicate_of"] == "public.t_pkey"
    assert found.fix is not None
    assert found.fix.rollback_sql is not None
    assert found.fix.rollback_sql.startswith("CREATE UNIQUE INDEX CONCURRENTLY a_extra")


def test_duplicate_constraints_get_no_sql_fix() -> None:
    pk = btree("t_pkey", ["id"], is_primary=True, is_unique=True, constraint_name="t_pkey")
    uq = btree("t_id_key", ["id"], is_unique=True, constraint_name="t_id_key")
    [found] = run("duplicate_index", unused_snap(pk, uq))
    assert found.object == "public.t_id_key" and found.fix is None
    assert "constraint t_id_key" in found.detail


def test_unique_index_is_kept_when_the_keeper_is_deferrable() -> None:
    deferrable = btree("t_a_key", ["a"], is_unique=True, constraint_name="t_a_key")
    plain = btree("t_a_uniq", ["a"], is_unique=True)
    plain_nonunique = btree("t_a_plain", ["a"])
    con = f.constraint("t_a_key", type="u", columns=["a"], definition="UNIQUE (a) DEFERRABLE")
    snap = unused_snap(deferrable, plain, plain_nonunique, constraints=[con])
    # the plain unique index arbitrates ON CONFLICT: only the non-unique copy may go
    assert [x.object for x in run("duplicate_index", snap)] == ["public.t_a_plain"]


def test_exclusion_and_nulls_not_distinct_indexes_are_not_duplicates() -> None:
    ex1 = f.index("ex1", "t", ["a"], method="gist", is_exclusion=True, constraint_name="ex1")
    ex2 = f.index("ex2", "t", ["a"], method="gist", is_exclusion=True, constraint_name="ex2")
    assert run("duplicate_index", unused_snap(ex1, ex2)) == []
    nnd = btree("u2", ["a"], is_unique=True)
    nnd = replace(nnd, definition=nnd.definition + " NULLS NOT DISTINCT")
    assert run("duplicate_index", unused_snap(btree("u1", ["a"], is_unique=True), nnd)) == []


def test_duplicates_attached_to_partitioned_indexes_are_left_to_the_parent() -> None:
    a = btree("p1_a", ["a"], parent_index="public.p_a")
    b = btree("p1_a1", ["a"], parent_index="public.p_a1")
    assert run("duplicate_index", unused_snap(a, b)) == []


def test_duplicate_on_partitioned_table_uses_plain_drop_and_recreates_the_tree() -> None:
    keep = btree("p_a", ["a"])
    copy = btree("p_b", ["a"])
    copy = replace(copy, definition="CREATE INDEX p_b ON ONLY public.t USING btree (a)")
    snap = unused_snap(keep, copy, tables=[f.table("t", kind="p")])
    [found] = run("duplicate_index", snap)
    assert found.fix is not None and found.fix.transactional and found.fix.needs_review
    assert found.fix.sql == 'DROP INDEX "public"."p_b"'
    assert found.fix.rollback_sql == "CREATE INDEX p_b ON public.t USING btree (a)"


# -- redundant_index --


def test_prefix_index_is_redundant() -> None:
    snap = unused_snap(btree("t_a", ["a"], idx_scan=7), btree("t_a_b", ["a", "b"]))
    [found] = run("redundant_index", snap)
    assert found.object == "public.t_a" and found.severity is Severity.LOW
    assert found.evidence["covering_index"] == "public.t_a_b"
    assert found.evidence["idx_scan"] == 7 and "7 scans" in found.detail
    assert found.fix is not None and found.fix.sql == 'DROP INDEX CONCURRENTLY "public"."t_a"'
    assert found.fix.rollback_sql == "CREATE INDEX CONCURRENTLY t_a ON public.t USING btree (a)"


@pytest.mark.parametrize(
    ("narrow", "wide"),
    [
        (btree("n", ["b"]), btree("w", ["a", "b"])),
        (btree("n", ["a"], is_unique=True), btree("w", ["a", "b"])),
        (btree("n", ["a"], constraint_name="n"), btree("w", ["a", "b"])),
        (btree("n", ["a"], predicate="(a > 0)"), btree("w", ["a", "b"])),
        (btree("n", ["a"]), btree("w", ["a", "b"], predicate="(a > 0)")),
        (f.index("n", "t", ["a"], method="hash"), f.index("w", "t", ["a", "b"], method="hash")),
        (btree("n", ["a"], opclasses=["text_pattern_ops"]), btree("w", ["a", "b"])),
        (btree("n", ["a"], options=[2]), btree("w", ["a", "b"])),
        (btree("n", ["a", "c"], n_key_columns=1), btree("w", ["a", "b"])),
        (btree("n", ["a"]), btree("w", ["a", "b"], is_valid=False)),
    ],
    ids=["not-leading", "unique", "constraint", "predicate", "wide-partial", "hash",
         "opclass", "nulls-first", "include-missing", "invalid-cover"],
)  # fmt: skip
def test_not_redundant(narrow: s.Index, wide: s.Index) -> None:
    assert run("redundant_index", unused_snap(narrow, wide)) == []


def test_mirrored_sort_order_and_covered_include_are_redundant() -> None:
    desc = unused_snap(btree("n", ["a"], options=[3]), btree("w", ["a", "b"], options=[0, 0]))
    assert [x.object for x in run("redundant_index", desc)] == ["public.n"]
    include = unused_snap(btree("n", ["a", "b"], n_key_columns=1), btree("w", ["a", "b"]))
    assert [x.object for x in run("redundant_index", include)] == ["public.n"]
    fewer = unused_snap(btree("n", ["a"]), btree("w", ["a", "c"], n_key_columns=1))
    assert [x.object for x in run("redundant_index", fewer)] == ["public.n"]


def test_mirror_twins_report_exactly_one() -> None:
    snap = unused_snap(btree("t_a_asc", ["a"]), btree("t_a_desc", ["a"], options=[3]))
    [found] = run("redundant_index", snap)
    assert found.object == "public.t_a_desc"
    assert found.evidence["covering_index"] == "public.t_a_asc"


def test_chain_names_the_widest_cover() -> None:
    snap = unused_snap(btree("i1", ["a"]), btree("i2", ["a", "b"]), btree("i3", ["a", "b", "c"]))
    found = run("redundant_index", snap)
    assert [(x.object, x.evidence["covering_index"]) for x in found] == [
        ("public.i1", "public.i3"),
        ("public.i2", "public.i3"),
    ]


def test_redundant_skips_duplicates_being_dropped() -> None:
    snap = unused_snap(btree("a1", ["a"]), btree("a2", ["a"]), btree("ab", ["a", "b"]))
    assert [x.object for x in run("redundant_index", snap)] == ["public.a1"]
    assert [x.object for x in run("duplicate_index", snap)] == ["public.a2"]


# -- invalid_index --


def test_invalid_index_is_rebuilt_concurrently() -> None:
    snap = unused_snap(btree("t_a_idx", ["a"], is_valid=False))
    [found] = run("invalid_index", snap)
    assert found.object == "public.t_a_idx" and found.severity is Severity.HIGH
    assert found.evidence["build_check"] == "no build in progress"
    assert found.fix is not None and found.fix.transactional is False
    assert found.fix.sql == (
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_a_idx";\n'
        "CREATE INDEX CONCURRENTLY t_a_idx ON public.t USING btree (a);"
    )
    assert found.fix.rollback_sql == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_a_idx"'
    assert not found.fix.needs_review


def test_invalid_unique_index_needs_review() -> None:
    [found] = run("invalid_index", unused_snap(btree("u", ["a"], is_valid=False, is_unique=True)))
    assert found.fix is not None and found.fix.needs_review
    assert "duplicate keys" in found.detail


def test_build_in_progress_is_silent() -> None:
    index = btree("t_a_idx", ["a"], is_valid=False, is_ready=False)
    building = unused_snap(index, tables=[f.table("t", index_build_running=True)])
    assert run("invalid_index", building) == []
    for query in (
        "CREATE INDEX CONCURRENTLY t_a_idx ON t (a)",
        "create unique index concurrently if not exists t_a_idx on t (a)",
        "REINDEX (CONCURRENTLY) TABLE public.t",
        "REINDEX SCHEMA CONCURRENTLY public",
        "DROP INDEX CONCURRENTLY t_a_idx",
    ):
        assert run("invalid_index", unused_snap(index, activity=[activity(query)])) == [], query


@pytest.mark.parametrize(
    "session",
    [
        activity("CREATE INDEX CONCURRENTLY t_a_idx ON t (a)", same_database=False),
        activity("CREATE INDEX CONCURRENTLY t_a_idx ON t (a)", state="idle"),
        activity("CREATE INDEX CONCURRENTLY other_idx ON other (a)"),
        activity("CREATE INDEX t_a_idx ON t (a)"),
        activity(None),
    ],
    ids=["other-db", "idle", "other-table", "not-concurrent", "hidden"],
)
def test_unrelated_sessions_do_not_hide_an_invalid_index(session: s.Activity) -> None:
    snap = unused_snap(btree("t_a_idx", ["a"], is_valid=False), activity=[session])
    assert len(run("invalid_index", snap)) == 1


def test_invalid_index_with_hidden_sessions_is_flagged_unverified() -> None:
    hidden = [s.Limitation("activity", "role lacks pg_read_all_stats")]
    [found] = run(
        "invalid_index", unused_snap(btree("i", ["a"], is_valid=False), limitations=hidden)
    )
    assert found.evidence["build_check"] == "unverified"
    assert "cannot see other sessions" in found.detail


def test_reindex_leftover_and_interrupted_drop_are_only_dropped() -> None:
    original = btree("t_a_idx", ["a"])
    leftover = btree("t_a_idx_ccnew", ["a"], is_valid=False)
    [found] = run("invalid_index", unused_snap(original, leftover))
    assert found.object == "public.t_a_idx_ccnew"
    assert found.evidence["valid_twin"] == "public.t_a_idx"
    assert found.fix is not None and found.fix.rollback_sql is None
    assert found.fix.sql == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_a_idx_ccnew"'
    dying = btree("t_b_idx", ["b"], is_valid=False, is_ready=False, is_live=False)
    [found] = run("invalid_index", unused_snap(dying))
    assert "DROP INDEX CONCURRENTLY" in found.detail
    assert found.fix is not None and found.fix.sql.startswith("DROP INDEX CONCURRENTLY IF EXISTS")
    assert found.fix.rollback_sql is None


def test_invalid_partitioned_index_is_medium_without_fix() -> None:
    snap = unused_snap(btree("p_a", ["a"], is_valid=False), tables=[f.table("t", kind="p")])
    [found] = run("invalid_index", snap)
    assert found.severity is Severity.MEDIUM and found.fix is None
    assert "ATTACH" in found.detail


def test_valid_or_extension_indexes_are_not_invalid() -> None:
    assert run("invalid_index", unused_snap(btree("ok", ["a"]))) == []
    assert run("invalid_index", unused_snap(btree("e", ["a"], is_valid=False, extension="x"))) == []
