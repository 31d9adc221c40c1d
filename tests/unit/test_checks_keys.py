"""fk_type_mismatch from hand-built snapshots: which type pairs fire, and how severe."""

from __future__ import annotations

import pytest

from prodready.db import snapshot as s
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f


def run(child: str, parent: str, last_value: int | None = None) -> list[Finding]:
    fk = f.constraint("orders_account_fkey", "orders", columns=["account_id"],
                      ref_schema="public", ref_table="accounts", ref_columns=["id"])  # fmt: skip
    sequences = []
    if last_value is not None:
        sequences = [
            s.Sequence(
                "public",
                "accounts_id_seq",
                parent,
                1,
                2**63 - 1,
                1,
                last_value,
                "accounts",
                "id",
                parent,
                None,
            )
        ]
    snap = f.snapshot(
        tables=[f.table("orders"), f.table("accounts")],
        columns=[f.column("orders", "account_id", type=child),
                 f.column("accounts", "id", type=parent)],
        constraints=[fk],
        sequences=sequences,
    )  # fmt: skip
    return run_checks(snap, only=["fk_type_mismatch"], strict=True).findings


@pytest.mark.parametrize(
    ("child", "parent"), [("integer", "bigint"), ("smallint", "integer"), ("smallint", "bigint")]
)
def test_narrower_integer_fk_fires(child: str, parent: str) -> None:
    [found] = run(child, parent)
    assert found.object == "public.orders (account_id)" and found.severity is Severity.MEDIUM
    assert found.fix is not None and found.fix.sql.endswith(f"TYPE {parent}")
    assert found.fix.rollback_sql is not None and found.fix.rollback_sql.endswith(f"TYPE {child}")


@pytest.mark.parametrize(
    ("child", "parent"),
    [("bigint", "bigint"), ("integer", "integer"), ("bigint", "integer"), ("text", "text"),
     ("uuid", "uuid")],
)  # fmt: skip
def test_same_or_wider_fk_is_silent(child: str, parent: str) -> None:
    assert run(child, parent) == []


@pytest.mark.parametrize(
    ("last_value", "severity"),
    [(10, Severity.MEDIUM), (1_500_000_000, Severity.HIGH), (2**31, Severity.CRITICAL)],
)
def test_severity_follows_the_parents_sequence(last_value: int, severity: Severity) -> None:
    [found] = run("integer", "bigint", last_value)
    assert found.severity is severity
    assert found.evidence["parent_sequence_value"] == last_value
