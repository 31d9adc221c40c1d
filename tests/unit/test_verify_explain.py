"""Reading EXPLAIN (ANALYZE, VERBOSE, BUFFERS, TIMING OFF, FORMAT JSON) output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from prodready.verify.explain import ExplainError, node_label, parse_explain, signature
from prodready.verify.model import Buffers


def explain(plan: dict[str, Any], planning: float = 0.1, execution: float = 2.5) -> list[Any]:
    return [{"Plan": plan, "Planning Time": planning, "Execution Time": execution}]


SEQ = {
    "Node Type": "Seq Scan",
    "Relation Name": "events",
    "Schema": "public",
    "Alias": "events",
    "Actual Rows": 50,
    "Actual Loops": 1,
    "Shared Hit Blocks": 900,
    "Shared Read Blocks": 35,
}

BITMAP = {
    "Node Type": "Bitmap Heap Scan",
    "Relation Name": "events",
    "Schema": "app",
    "Actual Rows": 50,
    "Actual Loops": 1,
    "Shared Hit Blocks": 52,
    "Shared Read Blocks": 0,
    "Plans": [
        {
            "Node Type": "Bitmap Index Scan",
            "Parent Relationship": "Outer",
            "Index Name": "events_k_idx",
            "Actual Rows": 50,
            "Actual Loops": 1,
        }
    ],
}


def test_a_seq_scan_run() -> None:
    run = parse_explain(explain(SEQ, planning=0.125, execution=9.5))
    assert run.planning_ms == 0.125
    assert run.execution_ms == 9.5
    assert run.total_ms == 9.625
    assert run.signature == "Seq Scan on public.events"
    assert run.indexes == ()
    assert run.buffers == Buffers(shared_hit=900, shared_read=35)
    assert run.rows == 50


def test_a_bitmap_index_scan_takes_its_heap_scans_schema() -> None:
    run = parse_explain(explain(BITMAP))
    assert run.signature == (
        "Bitmap Heap Scan on app.events(Bitmap Index Scan using app.events_k_idx)"
    )
    assert run.indexes == ("app.events_k_idx",)


def test_json_text_is_accepted_too() -> None:
    assert parse_explain(json.dumps(explain(SEQ))).signature == "Seq Scan on public.events"


def test_a_join_lists_each_index_once_in_tree_order() -> None:
    inner = {
        "Node Type": "Index Scan",
        "Index Name": "users_pkey",
        "Relation Name": "users",
        "Schema": "public",
        "Actual Rows": 1,
        "Actual Loops": 20,
    }
    join = {
        "Node Type": "Nested Loop",
        "Join Type": "Inner",
        "Actual Rows": 20,
        "Actual Loops": 1,
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Index Name": "orders_buyer_idx",
                "Relation Name": "orders",
                "Schema": "shop",
                "Actual Rows": 20,
                "Actual Loops": 1,
            },
            inner,
            {**inner, "Relation Name": "users", "Alias": "again"},
        ],
    }
    plan = {"Node Type": "Limit", "Actual Rows": 20, "Actual Loops": 1, "Plans": [join]}
    run = parse_explain(explain(plan))
    assert run.indexes == ("shop.orders_buyer_idx", "public.users_pkey")
    assert run.signature.startswith(
        "Limit(Nested Loop(Index Scan using shop.orders_buyer_idx on shop.orders, "
    )
    assert run.rows == 20


@pytest.mark.parametrize(
    ("node", "label"),
    [
        ({"Node Type": "Aggregate", "Strategy": "Hashed"}, "HashAggregate"),
        ({"Node Type": "Aggregate", "Strategy": "Sorted"}, "GroupAggregate"),
        ({"Node Type": "Aggregate", "Strategy": "Plain"}, "Aggregate"),
        ({"Node Type": "SetOp", "Strategy": "Hashed"}, "HashSetOp"),
        (
            {"Node Type": "Seq Scan", "Parallel Aware": True, "Relation Name": "t"},
            "Parallel Seq Scan on t",
        ),
        ({"Node Type": "CTE Scan", "CTE Name": "recent"}, "CTE Scan on recent"),
        (
            {"Node Type": "Function Scan", "Function Name": "generate_series"},
            "Function Scan on generate_series",
        ),
        (
            {
                "Node Type": "ModifyTable",
                "Operation": "Update",
                "Relation Name": "t",
                "Schema": "s",
            },
            "Update on s.t",
        ),
        ({"Node Type": "Hash Join"}, "Hash Join"),
    ],
)
def test_node_labels(node: dict[str, Any], label: str) -> None:
    assert node_label(node) == label


def test_a_write_without_returning_counts_the_rows_it_wrote() -> None:
    update = {
        "Node Type": "ModifyTable",
        "Operation": "Update",
        "Relation Name": "counters",
        "Schema": "public",
        "Actual Rows": 0,
        "Actual Loops": 1,
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Index Name": "counters_pkey",
                "Relation Name": "counters",
                "Schema": "public",
                "Actual Rows": 1,
                "Actual Loops": 1,
            }
        ],
    }
    run = parse_explain(explain(update))
    assert run.rows == 1
    assert run.signature == (
        "Update on public.counters(Index Scan using public.counters_pkey on public.counters)"
    )


def test_rows_multiply_by_loops() -> None:
    assert parse_explain(explain({**SEQ, "Actual Rows": 3, "Actual Loops": 4})).rows == 12


def test_signature_leaves_out_what_changes_between_runs() -> None:
    noisy = {**SEQ, "Actual Rows": 49, "Total Cost": 1.0, "Sort Method": "quicksort"}
    assert signature(noisy) == signature(SEQ)


@pytest.mark.parametrize("output", ["not json", "[]", json.dumps([{"Planning Time": 1}]), None])
def test_output_without_a_plan_is_an_error(output: Any) -> None:
    with pytest.raises(ExplainError):
        parse_explain(output)
