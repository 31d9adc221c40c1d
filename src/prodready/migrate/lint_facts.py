"""What the size-aware rules read and return: catalog facts (relations, columns, type
targets), the size thresholds, and the Hit a rule yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Relation:
    """A table (or index) as the catalog sizes it; partitioned tables sum their partitions."""

    schema: str
    name: str
    kind: str  # pg_class.relkind
    rows: float | None  # pg_class.reltuples; None when never analyzed
    table_bytes: int  # heap + TOAST (what a scan or an index build reads)
    total_bytes: int  # table_bytes + indexes (what a rewrite writes)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Column:
    type_oid: int
    type_name: str  # pg_type.typname, e.g. varchar, int4
    typmod: int
    display_type: str  # format_type(), e.g. character varying(20)
    not_null: bool


@dataclass(frozen=True)
class TypeTarget:
    """The type an ALTER COLUMN TYPE names, and whether PostgreSQL can relabel to it."""

    oid: int
    type_name: str
    binary_coercible: bool  # same type, or a pg_cast WITHOUT FUNCTION from the old one


class Catalog(Protocol):
    """What the rules need to know about the live database."""

    def relation(self, schema: str | None, name: str) -> Relation | None: ...

    def column(self, relation: Relation, column: str) -> Column | None: ...

    def type_target(self, type_name: str, old_type_oid: int) -> TypeTarget | None: ...

    def volatility(self, function: tuple[str, ...]) -> str | None: ...

    def not_null_checked(self, relation: Relation) -> frozenset[str]: ...

    def utc_session(self) -> bool: ...


@dataclass(frozen=True)
class Sizes:
    """When a table counts as large (error) or medium (warning)."""

    large_bytes: int
    large_rows: int
    warn_ratio: float

    def level(self, work_bytes: int, rows: float | None) -> str | None:
        rows = rows or 0
        if work_bytes >= self.large_bytes or rows >= self.large_rows:
            return "error"
        ratio = self.warn_ratio
        if work_bytes >= self.large_bytes * ratio or rows >= self.large_rows * ratio:
            return "warning"
        return None


@dataclass(frozen=True)
class Hit:
    """One rule violation on one statement; the caller adds the file and the position."""

    rule: str
    level: str
    message: str
    help: str
    evidence: dict[str, Any]
