"""Read what a dump must preserve: identity, schema fingerprint, per-table rows, smoke facts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from prodready.backup.model import SourceIdentity, TableCount

# Tables above this many estimated rows are counted from reltuples, not count(*): an exact
# count of a billion-row table would hold the dump's snapshot open for minutes.
EXACT_COUNT_LIMIT = 5_000_000


def load_sql(name: str) -> str:
    return resources.files("prodready.backup.sql").joinpath(f"{name}.sql").read_text()


def _rows(conn: psycopg.Connection, name: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(load_sql(name)).fetchall()


@dataclass(frozen=True)
class ServerFacts:
    identity: SourceIdentity
    server_version: str
    server_version_num: int


def server_facts(conn: psycopg.Connection) -> ServerFacts:
    """Identity and version; the system identifier is optional (needs superuser or a grant)."""
    row = _rows(conn, "identity")[0]
    system_identifier = None
    try:
        with conn.transaction():
            system_identifier = _rows(conn, "system_identifier")[0]["system_identifier"]
    except psycopg.errors.InsufficientPrivilege:
        pass
    identity = SourceIdentity(
        system_identifier=system_identifier,
        database=row["database"],
        database_oid=int(row["database_oid"]),
        postmaster_start=row["postmaster_start"],
    )
    return ServerFacts(identity, row["server_version"], int(row["server_version_num"]))


def same_database(a: SourceIdentity, b: SourceIdentity) -> bool:
    """True when both describe one database; without system ids, the running server decides."""
    if a.database != b.database or a.database_oid != b.database_oid:
        return False
    if a.system_identifier and b.system_identifier:
        return a.system_identifier == b.system_identifier
    return a.postmaster_start == b.postmaster_start


def table_counts(
    conn: psycopg.Connection, exact_limit: int = EXACT_COUNT_LIMIT
) -> list[TableCount]:
    """Exact counts for tables up to `exact_limit` estimated rows, reltuples above it."""
    counts = []
    for row in _rows(conn, "tables"):
        schema, name = row["schema"], row["name"]
        estimate = int(row["estimate"])
        if estimate > exact_limit:
            counts.append(TableCount(schema, name, estimate, estimated=True))
        else:
            counts.append(TableCount(schema, name, exact_count(conn, schema, name), False))
    return counts


def exact_count(conn: psycopg.Connection, schema: str, name: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(name)
    )
    found = conn.execute(query).fetchone()
    return int(found[0]) if found else 0


def schema_fingerprint(conn: psycopg.Connection) -> tuple[str, dict[str, int], list[str]]:
    """sha256 over one line per object, the object counts by kind, and the lines themselves."""
    lines: list[str] = []
    kinds: dict[str, int] = {}
    for row in _rows(conn, "fingerprint"):
        lines.append(f"{row['kind']} {row['line']}")
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return digest, kinds, lines


def user_tables(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(schema, name) of the app's tables (not extensions')."""
    return {(r["schema"], r["name"]) for r in _rows(conn, "tables")}


def invalid_indexes(conn: psycopg.Connection) -> list[str]:
    return [r["index"] for r in _rows(conn, "smoke_indexes")]


def sequences_behind(conn: psycopg.Connection) -> list[str]:
    """Sequences whose next value would collide with a row already in their column."""
    behind = []
    for row in _rows(conn, "smoke_sequences"):
        seq = sql.SQL("{}.{}").format(
            sql.Identifier(row["seq_schema"]), sql.Identifier(row["seq_name"])
        )
        table = sql.SQL("{}.{}").format(
            sql.Identifier(row["table_schema"]), sql.Identifier(row["table_name"])
        )
        query = sql.SQL(
            "SELECT s.last_value, s.is_called, (SELECT max({col}) FROM {table}) FROM {seq} s"
        ).format(col=sql.Identifier(row["column_name"]), table=table, seq=seq)
        found = conn.execute(query).fetchone()
        if found is None or found[2] is None:
            continue
        last_value, is_called, column_max = found
        next_value = last_value + 1 if is_called else last_value
        if next_value <= column_max:
            behind.append(
                f"{row['seq_schema']}.{row['seq_name']} (next {next_value}, "
                f"{row['table_schema']}.{row['table_name']}.{row['column_name']} max {column_max})"
            )
    return behind


def unreadable_tables(conn: psycopg.Connection, tables: list[TableCount]) -> list[str]:
    """Tables whose first row cannot be read (a smoke test that touches every heap)."""
    failed = []
    for table in tables:
        schema, name = table.schema, table.name
        query = sql.SQL("SELECT * FROM {}.{} LIMIT 1").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        try:
            with conn.transaction():
                conn.execute(query).fetchall()
        except psycopg.Error as exc:
            failed.append(f"{table.table}: {str(exc).splitlines()[0]}")
    return failed
