"""The advisor's vocabulary: the workload it reads and the recommendations it returns.

`WorkloadQuery` is what every workload source produces (pg_stat_statements, SQL files,
server logs); `AdvisorResult.to_json()` is the advisor JSON contract of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Confidence = Literal["validated", "estimated", "unvalidated", "measured"]
DropReason = Literal["unused", "duplicate", "redundant"]


@dataclass(frozen=True)
class WorkloadQuery:
    """One statement of the workload, grouped by fingerprint (same shape, any literals).

    `text` is either literal SQL or normalised SQL with `$n` placeholders (pg_stat_statements,
    logs). `calls` weighs it in the workload. `param_samples` holds observed `$n` values (from
    log `parameters:` lines), one list per execution, as SQL literal text or None for NULL.
    """

    fingerprint: str
    text: str
    calls: float
    source: str
    total_ms: float | None = None
    mean_ms: float | None = None
    role: str | None = None
    param_samples: tuple[tuple[str | None, ...], ...] = ()
    # literal statements of this shape seen with other values: (text, calls), heaviest first
    # (it includes `text`); each is planned with its own values, for its share of the calls
    variants: tuple[tuple[str, float], ...] = ()

    @property
    def has_params(self) -> bool:
        return "$" in self.text


@dataclass(frozen=True)
class BoundQuery:
    """A workload statement made plannable: `sql` has no `$n` left, or `generic` is set.

    `method` says how parameters were filled: "literal" (none needed), "log" (observed
    values), "stats" (pg_stats most common values / histogram), "generic" (planned with
    plan_cache_mode = force_generic_plan through PREPARE/EXPLAIN EXECUTE; `sql` then still
    has `$n` and `param_types` lists the types to PREPARE with).
    """

    query: WorkloadQuery
    sql: str
    method: Literal["literal", "log", "stats", "generic"]
    param_types: tuple[str, ...] = ()
    note: str | None = None
    # one of several bindings of the statement: the share of its calls this one stands for,
    # and the value it was bound with (light, typical and heavy values of a skewed column)
    share: float = 1.0
    binding: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A statement the advisor could not plan, and why (never fatal)."""

    query: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "reason": self.reason}


@dataclass(frozen=True)
class QueryEffect:
    query: str
    calls: float
    cost_before: float
    cost_after: float

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "calls": self.calls,
            "cost_before": round(self.cost_before, 2),
            "cost_after": round(self.cost_after, 2),
        }


@dataclass(frozen=True)
class IndexRecommendation:
    table: str
    definition: str
    rollback: str
    estimated_bytes: int
    confidence: Confidence
    workload_cost_before: float
    workload_cost_after: float
    queries: list[QueryEffect]
    write_overhead: float
    reason: str = ""
    # statements that must run first, e.g. CREATE EXTENSION pg_trgm for a trigram index
    requires: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "definition": self.definition,
            "rollback": self.rollback,
            "estimated_bytes": self.estimated_bytes,
            "confidence": self.confidence,
            "benefit": {
                "workload_cost_before": round(self.workload_cost_before, 2),
                "workload_cost_after": round(self.workload_cost_after, 2),
            },
            "queries": [q.to_json() for q in self.queries],
            "write_overhead": round(self.write_overhead, 4),
            "reason": self.reason,
            "requires": list(self.requires),
        }


@dataclass(frozen=True)
class DropRecommendation:
    index: str
    reason: DropReason
    estimated_bytes: int
    definition: str
    rollback: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "reason": self.reason,
            "estimated_bytes": self.estimated_bytes,
            "definition": self.definition,
            "rollback": self.rollback,
            "detail": self.detail,
        }


@dataclass
class AdvisorResult:
    indexes: list[IndexRecommendation] = field(default_factory=list)
    drops: list[DropRecommendation] = field(default_factory=list)
    statements: int = 0
    explained: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    workload_cost_before: float = 0.0
    workload_cost_after: float = 0.0
    whatif_calls: int = 0
    cache_hits: int = 0
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def new_index_bytes(self) -> int:
        """The recommended set's estimated size on disk: the price of the workload gain."""
        return sum(i.estimated_bytes for i in self.indexes)

    def to_json(self) -> dict[str, Any]:
        return {
            "indexes": [i.to_json() for i in self.indexes],
            "new_index_bytes": self.new_index_bytes,
            "drops": [d.to_json() for d in self.drops],
            "workload": {
                "statements": self.statements,
                "explained": self.explained,
                "skipped": [s.to_json() for s in self.skipped],
            },
            "workload_cost": {
                "before": round(self.workload_cost_before, 2),
                "after": round(self.workload_cost_after, 2),
            },
            "whatif_calls": self.whatif_calls,
            "cache_hits": self.cache_hits,
            "elapsed_s": round(self.elapsed_s, 2),
            "notes": self.notes,
        }
