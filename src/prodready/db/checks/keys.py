"""Foreign keys whose column cannot hold every value of the key it references."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg import sql

from prodready.db.checks.reliability import INT_RANGES
from prodready.db.checks.shared import regclass_literal
from prodready.db.snapshot import Column, Constraint, Snapshot, qualify, quote_ident
from prodready.model import Category, Fix, Issue, Severity
from prodready.registry import Options, check
from prodready.sqlgen import render


@check(
    "fk_type_mismatch",
    title="Foreign key column narrower than the key it references",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
    options={"high_percent": 50.0},
)
def fk_type_mismatch(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """An `integer` column referencing a `bigint` key (or `smallint` referencing `integer`)
    works until the parent's ids pass the smaller type's maximum: then every INSERT of a
    child row pointing at a new parent fails. `sequence_exhaustion` cannot see it, since the
    parent's own sequence and column are wide enough. Widen the child column to the parent's
    type (`ALTER TABLE ... ALTER COLUMN ... TYPE bigint` rewrites the table under an ACCESS
    EXCLUSIVE lock: plan a window or migrate through a new column). Critical once the
    parent's ids already exceed what the child column holds, high past `high_percent`."""
    columns = {(c.schema, c.table, c.name): c for c in snap.columns}
    for con in snap.constraints:
        if con.type != "f" or not con.ref_columns or con.ref_schema is None:
            continue
        table = snap.table(con.schema, con.table)
        if table is None or table.extension is not None or table.is_partition:
            continue
        for name, ref_name in zip(con.columns, con.ref_columns, strict=False):
            child = columns.get((con.schema, con.table, name))
            parent = columns.get((con.ref_schema, con.ref_table or "", ref_name))
            if child is None or parent is None or not _narrower(child.type, parent.type):
                continue
            yield _mismatch_issue(snap, con, child, parent, opts)


def _narrower(child: str, parent: str) -> bool:
    return (
        child in INT_RANGES
        and parent in INT_RANGES
        and (INT_RANGES[child][1] < INT_RANGES[parent][1])
    )


def _parent_high_water(snap: Snapshot, parent: Column) -> int | None:
    """The largest id the parent's sequence has handed out, when one feeds the column."""
    for seq in snap.sequences:
        if (seq.schema, seq.owned_by_table, seq.owned_by_column) == (
            parent.schema, parent.table, parent.name,
        ):  # fmt: skip
            return seq.last_value
    return None


def _mismatch_issue(
    snap: Snapshot, con: Constraint, child: Column, parent: Column, opts: Options
) -> Issue:
    limit = INT_RANGES[child.type][1]
    high = _parent_high_water(snap, parent)
    percent = round(100.0 * high / limit, 1) if high is not None else None
    severity = None
    if percent is not None and percent >= 100:
        severity = Severity.CRITICAL
    elif percent is not None and percent >= opts["high_percent"]:
        severity = Severity.HIGH
    child_label = f"{qualify(con.schema, con.table)}.{quote_ident(child.name)}"
    parent_label = f"{qualify(parent.schema, parent.table)}.{quote_ident(parent.name)}"
    detail = (
        f"{child_label} is {child.type} but references {parent_label}, which is "
        f"{parent.type}: once the parent's ids pass {limit:,}, inserting a child row for a "
        "new parent fails."
    )
    if high is not None:
        detail += f" The parent's sequence is at {high:,} ({percent}% of that limit)."
    evidence: dict[str, Any] = {
        "constraint": con.name,
        "column": child.name,
        "column_type": child.type,
        "referenced": f"{parent.schema}.{parent.table}.{parent.name}",
        "referenced_type": parent.type,
        "column_limit": limit,
        "parent_sequence_value": high,
        "percent_of_limit": percent,
    }
    target = sql.Identifier(con.schema, con.table)
    column = sql.Identifier(child.name)
    widen = sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(
        target, column, sql.SQL(parent.type)
    )
    narrow = sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(
        target, column, sql.SQL(child.type)
    )
    verify = render(
        sql.SQL(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = {}::regclass AND attname = {}"
        ).format(regclass_literal(con.schema, con.table), sql.Literal(child.name))
    )
    return Issue(
        f"{qualify(con.schema, con.table)} ({quote_ident(child.name)})",
        detail,
        evidence,
        # a rewrite under ACCESS EXCLUSIVE: a person schedules it
        fix=Fix(render(widen), render(narrow), needs_review=True),
        severity=severity,
        verify=verify,
    )
