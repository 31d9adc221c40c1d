"""Reading one EXPLAIN (ANALYZE, VERBOSE, BUFFERS, TIMING OFF, FORMAT JSON) result.

The plan signature is what makes two plans the same for a person: node types in tree
order with the relation or index each reads, e.g.
`Limit(Index Scan using public.orders_buyer_id_idx on public.orders)`. Costs, row counts and
sort methods are left out: they change from run to run without the plan changing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prodready.verify.model import Buffers

# Aggregate / SetOp strategies read as the names EXPLAIN's text format uses.
_STRATEGY = {
    ("Aggregate", "Plain"): "Aggregate",
    ("Aggregate", "Sorted"): "GroupAggregate",
    ("Aggregate", "Hashed"): "HashAggregate",
    ("Aggregate", "Mixed"): "MixedAggregate",
    ("SetOp", "Sorted"): "SetOp",
    ("SetOp", "Hashed"): "HashSetOp",
}


class ExplainError(ValueError):
    """EXPLAIN returned something that is not a JSON plan."""


@dataclass(frozen=True)
class PlanRun:
    """One EXPLAIN ANALYZE run: server time, the plan's signature, what it read."""

    planning_ms: float
    execution_ms: float
    signature: str
    indexes: tuple[str, ...]
    buffers: Buffers
    rows: float

    @property
    def total_ms(self) -> float:
        return self.planning_ms + self.execution_ms


def parse_explain(output: Any) -> PlanRun:
    """A PlanRun from EXPLAIN's FORMAT JSON value (psycopg gives a list, or text)."""
    if isinstance(output, str | bytes):
        try:
            output = json.loads(output)
        except ValueError as exc:
            raise ExplainError(f"EXPLAIN output is not JSON: {exc}") from None
    top = output[0] if isinstance(output, list) and output else output
    if not isinstance(top, dict) or not isinstance(top.get("Plan"), dict):
        raise ExplainError("EXPLAIN output has no plan")
    plan = top["Plan"]
    return PlanRun(
        planning_ms=float(top.get("Planning Time", 0.0)),
        execution_ms=float(top.get("Execution Time", 0.0)),
        signature=signature(plan),
        indexes=tuple(dict.fromkeys(_indexes(plan, None))),
        buffers=Buffers(
            int(plan.get("Shared Hit Blocks", 0)), int(plan.get("Shared Read Blocks", 0))
        ),
        rows=_rows(plan),
    )


def signature(node: dict[str, Any], schema: str | None = None) -> str:
    """The plan tree as `Node(child, child)`, each node with what it reads.

    A Bitmap Index Scan names no schema: it takes its heap scan's (an index lives in its
    table's schema).
    """
    schema = node.get("Schema", schema)
    children = [signature(child, schema) for child in node.get("Plans", [])]
    label = node_label(node, schema)
    return f"{label}({', '.join(children)})" if children else label


def node_label(node: dict[str, Any], schema: str | None = None) -> str:
    """`Index Scan using s.i on s.t`, `Seq Scan on s.t`, `HashAggregate`, `Update on s.t`."""
    kind = str(node.get("Node Type", "?"))
    if kind == "ModifyTable":
        kind = str(node.get("Operation", kind))
    kind = _STRATEGY.get((kind, str(node.get("Strategy", ""))), kind)
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    index = node.get("Index Name")
    if index is not None:
        kind += f" using {_qualify(node.get('Schema', schema), str(index))}"
    target = _target(node)
    return f"{kind} on {target}" if target else kind


def _target(node: dict[str, Any]) -> str | None:
    if "Relation Name" in node:
        return _qualify(node.get("Schema"), str(node["Relation Name"]))
    for key in ("CTE Name", "Function Name"):
        if key in node:
            return str(node[key])
    return None


def _qualify(schema: Any, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _indexes(node: dict[str, Any], schema: str | None) -> Iterator[str]:
    """Indexes the plan reads, schema-qualified; a Bitmap Index Scan takes its heap's schema."""
    schema = node.get("Schema", schema)
    if "Index Name" in node:
        yield _qualify(schema, str(node["Index Name"]))
    for child in node.get("Plans", []):
        yield from _indexes(child, schema)


def _rows(plan: dict[str, Any]) -> float:
    """Rows the statement returned; for a write without RETURNING, the rows it wrote."""
    node = plan
    if node.get("Node Type") == "ModifyTable" and not node.get("Actual Rows") and node.get("Plans"):
        node = node["Plans"][0]
    return float(node.get("Actual Rows", 0.0)) * float(node.get("Actual Loops", 1.0) or 1.0)
