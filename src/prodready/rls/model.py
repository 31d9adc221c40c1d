"""What an RLS attack run knows and finds: identities, tenant tables, attempts, leaks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    DENIED = "denied"  # the attacker saw or changed nothing
    OWN_ONLY = "own_only"  # the attacker reached its own rows, never the other tenant's
    PUBLIC = "public"  # visible to anyone, signed in or not: shared by the policy's design
    LEAK = "leak"  # the attacker read or changed the other tenant's rows
    ERROR = "error"  # the attempt failed for another reason (constraint, timeout...)
    SKIPPED = "skipped"  # nothing to try it on (no rows of that tenant, no key)


@dataclass(frozen=True)
class Identity:
    """How the app tells PostgreSQL who is asking."""

    mode: str  # "supabase" (JWT claims), "guc" (a custom setting) or "none"
    setting: str | None = None  # the GUC name for mode "guc"
    evidence: str = ""  # what gave it away (a policy calling auth.uid(), ...)

    def settings_for(
        self, subject: str | None, role: str, metadata: dict[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """The (setting, value) pairs that make the next statements run as `subject`;
        `metadata` is what the user wrote into their own JWT's user_metadata."""
        if subject is None:
            return []
        if self.mode == "supabase":
            payload: dict[str, Any] = {"sub": subject, "role": role}
            if metadata:
                payload["user_metadata"] = metadata
            claims = json.dumps(payload)
            return [
                ("request.jwt.claims", claims),
                ("request.jwt.claim.sub", subject),
                ("request.jwt.claim.role", role),
            ]
        if self.mode == "guc" and self.setting:
            return [(self.setting, subject)]
        return []


@dataclass(frozen=True)
class OwnerPath:
    """A SQL predicate over the table (alias `t`) that is true when `%(subject)s` owns the row.

    `column` is the column that decides it: the owner's id itself (`direct`), or a foreign
    key to a parent row that the owner owns; writing another value there moves the row.
    """

    predicate: str  # uses %(subject)s for the subject value, `t` for the table
    column: str
    direct: bool
    description: str
    parent: tuple[str, str, str] | None = None  # (schema, table, key column) when not direct


@dataclass
class TenantTable:
    schema: str
    name: str
    key: list[str]  # primary key columns, or ["ctid"]
    owners: list[OwnerPath]
    rls_enabled: bool
    key_type: str = "tid"
    rows_estimate: int = 0
    count_a: int = 0  # every row A owns: what an UPDATE or DELETE without WHERE may reach
    tenant_a: str | None = None  # the attacker and the victim for this table: the run's
    tenant_b: str | None = None  # pair, or the table's own when those own no rows here
    rows_a: list[str] = field(default_factory=list)  # keys (as text) of rows only A owns
    rows_b: list[str] = field(default_factory=list)  # keys (as text) of rows only B owns
    insertable: list[str] = field(default_factory=list)  # columns an INSERT may name
    types: dict[str, str] = field(default_factory=dict)  # column -> its SQL type
    defaults: set[str] = field(default_factory=set)  # columns DEFAULT fills safely
    template: dict[str, Any] | None = None  # one of A's rows (JSON), copied for INSERTs
    # per owner column, the value that makes a row A's or B's (the id, or a parent's key)
    values_a: dict[str, str] = field(default_factory=dict)
    values_b: dict[str, str] = field(default_factory=dict)
    fresh: dict[str, Any] = field(default_factory=dict)  # new values for key/unique columns
    policies: list[tuple[str, str, list[str], bool]] = field(default_factory=list)
    # roles some permissive SELECT policy opens rows to regardless of who asks (public data)
    public_readers: set[str] = field(default_factory=set)
    metadata: dict[str, str] = field(default_factory=dict)  # user_metadata a policy trusts

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Attempt:
    table: str
    command: str  # SELECT, INSERT, UPDATE, DELETE
    role: str
    kind: str  # read_other, update_other, move_to_other, insert_as_other, delete_other, own
    statement: str  # the SQL to reproduce it, identity settings included
    outcome: Outcome
    rows: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "command": self.command, "role": self.role,
            "outcome": self.outcome.value, "kind": self.kind, "statement": self.statement,
            "rows": self.rows, "error": self.error,
        }  # fmt: skip


@dataclass(frozen=True)
class Leak:
    table: str
    command: str
    role: str
    kind: str
    statement: str
    rows: int
    policy: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "command": self.command, "role": self.role,
            "kind": self.kind, "statement": self.statement, "rows": self.rows,
            "policy": self.policy, "fix": self.fix,
        }  # fmt: skip


@dataclass
class RlsResult:
    database: str
    identity: Identity
    tenants: dict[str, str | None]
    roles: list[str]
    tables: list[TenantTable]
    matrix: list[Attempt]
    leaks: list[Leak]
    rows_changed: int
    counts_before: dict[str, int]
    notes: list[str]
    elapsed_s: float
    attempts: int = 0
    policy_costs: dict[str, Any] | None = None  # rls-test --perf: what the policies cost

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "tenants": self.tenants,
            "identity": self.identity.mode
            + (f":{self.identity.setting}" if self.identity.setting else ""),
            "roles": self.roles,
            "matrix": [a.to_json() for a in self.matrix],
            "leaks": [leak.to_json() for leak in self.leaks],
            "rows_changed": self.rows_changed,
            "tables_checked": len(self.tables),
            "attempts": self.attempts,
            "notes": self.notes,
            "policy_costs": self.policy_costs,
            "elapsed_s": round(self.elapsed_s, 2),
        }
