"""The vocabulary every pipeline shares: severities, categories, checks and findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any


class Severity(IntEnum):
    """Ordered so that `--fail-on high` is a comparison."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def phase(self) -> int:
        """Critical blocks production (Phase 1); low and info wait for Phase 4."""
        return {4: 1, 3: 2, 2: 3}.get(int(self), 4)

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


class Category(StrEnum):
    PERFORMANCE = "performance"
    SECURITY = "security"
    RELIABILITY = "reliability"
    OBSERVABILITY = "observability"


@dataclass(frozen=True)
class Fix:
    """SQL that resolves a finding and the SQL that undoes it.

    `transactional` is False for statements PostgreSQL refuses inside a transaction
    (CREATE/DROP INDEX CONCURRENTLY). `reviewed` marks changes a person must read first.
    """

    sql: str
    rollback_sql: str | None = None
    transactional: bool = True
    needs_review: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "rollback_sql": self.rollback_sql,
            "transactional": self.transactional,
            "needs_review": self.needs_review,
        }


@dataclass(frozen=True)
class CheckInfo:
    """Metadata declared once, on the check."""

    id: str
    title: str
    category: Category
    severity: Severity
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    surface: str = "db"  # what its snapshot describes: "db" or "http"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category.value,
            "severity": self.severity.label,
            "description": self.description,
        }


@dataclass(frozen=True)
class Issue:
    """What a check yields: the object, what is wrong, the numbers, and the fix.

    The registry stamps it into a Finding (id, category, severity, phase, key).
    `severity` overrides the check's default when the evidence warrants it.
    `verify` tells a person how to confirm the fix worked. `deferred` says why nothing
    can be decided yet (statistics too young): such findings are summarised, not listed.
    """

    object: str
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: Fix | None = None
    severity: Severity | None = None
    verify: str | None = None
    deferred: str | None = None


@dataclass(frozen=True)
class Finding:
    key: str
    check: str
    severity: Severity
    category: Category
    object: str
    title: str
    detail: str
    evidence: dict[str, Any]
    fix: Fix | None
    verify: str | None = None
    deferred: str | None = None

    @property
    def phase(self) -> int:
        return self.severity.phase

    def sort_key(self) -> tuple[int, str, str]:
        return (-int(self.severity), self.check, self.object)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "check": self.check,
            "severity": self.severity.label,
            "category": self.category.value,
            "object": self.object,
            "title": self.title,
            "detail": self.detail,
            "evidence": self.evidence,
            "fix": self.fix.to_json() if self.fix else None,
            "verify": self.verify,
            "phase": self.phase,
            "deferred": self.deferred,
        }


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str


@dataclass
class Config:
    """Check options, disabled checks and suppressions, read by `prodready.config`."""

    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    suppressions: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
