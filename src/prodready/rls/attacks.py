"""The statements an attack tries on one table: pure, over what `discover` found.

Each aims either at tenant B's rows ("other": a success is a leak) or at the attacker's
own rows ("own": a success means the role works at all, so a denial is meaningful).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg import sql

from prodready.rls.model import TenantTable


@dataclass(frozen=True)
class Probe:
    command: str  # SELECT, INSERT, UPDATE, DELETE
    kind: str  # read_other, update_other, move_to_other, delete_other, insert_as_other, ...
    other: bool  # aims at the other tenant's rows
    query: sql.Composed
    counts: bool = False  # a SELECT count(*): the result is the number of rows reached
    allowed: int = 0  # rows it may reach without leaking (a blind write reaches A's own)


# An UPDATE or DELETE without WHERE skips the SELECT policies (PostgreSQL applies them only
# when the statement reads the rows), so it is tried too, but only on small tables: on a big
# one it would lock and rewrite every row until rolled back.
BLIND_MAX_ROWS = 10_000


def probes(table: TenantTable) -> list[Probe]:
    """Every probe that has something to aim at (rows of A or B, a row to copy)."""
    found: list[Probe] = []
    target = sql.Identifier(table.schema, table.name)
    touch = _untouched_column(table)
    for kind, keys, other in (
        ("read_other", table.rows_b, True),
        ("read_own", table.rows_a, False),
    ):
        if keys:
            query = sql.SQL("SELECT count(*) FROM {} t WHERE {}").format(
                target, _match(table, keys)
            )
            found.append(Probe("SELECT", kind, other, query, counts=True))
    if touch is not None:
        for kind, keys, other in (
            ("update_other", table.rows_b, True), ("update_own", table.rows_a, False)
        ):  # fmt: skip
            if keys:
                query = sql.SQL("UPDATE {} t SET {c} = t.{c} WHERE {}").format(
                    target, _match(table, keys), c=sql.Identifier(touch)
                )
                found.append(Probe("UPDATE", kind, other, query))
    move = next((p for p in table.owners if table.values_b.get(p.column)), None)
    if move is not None and table.rows_a:
        # with a WHERE, the moved row must also pass the SELECT policies; without one it
        # need not, so on a small table the blind form is the stronger attack
        blind = table.rows_estimate <= BLIND_MAX_ROWS
        query = sql.SQL("UPDATE {} t SET {} = {}").format(
            target, sql.Identifier(move.column), _typed_value(table, move.column, "b")
        )
        if not blind:
            query += sql.SQL(" WHERE {}").format(_match(table, table.rows_a[:1]))
        found.append(Probe("UPDATE", "move_to_other", True, query))
    for kind, keys, other in (
        ("delete_other", table.rows_b, True),
        ("delete_own", table.rows_a, False),
    ):
        if keys:
            query = sql.SQL("DELETE FROM {} t WHERE {}").format(target, _match(table, keys))
            found.append(Probe("DELETE", kind, other, query))
    if table.rows_b and table.rows_estimate <= BLIND_MAX_ROWS:
        found += _blind(table, target)
    if table.template is not None:
        for kind, values, other in (
            ("insert_as_other", table.values_b, True), ("insert_own", table.values_a, False)
        ):  # fmt: skip
            if all(values.get(p.column) for p in table.owners):
                found.append(Probe("INSERT", kind, other, _insert(table, values)))
    return found


def _blind(table: TenantTable, target: sql.Identifier) -> list[Probe]:
    """UPDATE ... SET col = DEFAULT and DELETE with no WHERE: nothing reads the rows."""
    found = [Probe("DELETE", "delete_blind", True,
                   sql.SQL("DELETE FROM {} t").format(target), allowed=table.count_a)]  # fmt: skip
    settable = [c for c in table.insertable if c not in table.key and c in table.defaults]
    if settable:
        query = sql.SQL("UPDATE {} t SET {} = DEFAULT").format(target, sql.Identifier(settable[0]))
        found.append(Probe("UPDATE", "update_blind", True, query, allowed=table.count_a))
    return found


def _match(table: TenantTable, keys: list[str]) -> sql.Composed:
    column = sql.SQL("t.ctid") if table.key == ["ctid"] else sql.SQL("t.{}").format(
        sql.Identifier(table.key[0])
    )  # fmt: skip
    return sql.SQL("{} = ANY(CAST({} AS {}[]))").format(
        column, sql.Literal(list(keys)), sql.SQL(table.key_type)
    )


def _untouched_column(table: TenantTable) -> str | None:
    """A column an UPDATE can set to itself: the row is touched, nothing changes."""
    owners = {p.column for p in table.owners}
    plain = [c for c in table.insertable if c not in owners and c not in table.key]
    return plain[0] if plain else (table.insertable[0] if table.insertable else None)


def _typed_value(table: TenantTable, column: str, who: str) -> sql.Composed:
    values = table.values_b if who == "b" else table.values_a
    return sql.SQL("CAST({} AS {})").format(
        sql.Literal(values[column]), sql.SQL(table.types.get(column, "text"))
    )


def _insert(table: TenantTable, values: dict[str, str]) -> sql.Composed:
    row = dict(table.template or {})
    row.update(values)
    row.update(table.fresh)
    columns = [c for c in table.insertable if c in row]
    target = sql.Identifier(table.schema, table.name)
    return sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM jsonb_populate_record("
                   "NULL::{t}, {row})").format(
        t=target,
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        row=sql.SQL("CAST({} AS jsonb)").format(sql.Literal(json.dumps(row, default=str))),
    )  # fmt: skip
