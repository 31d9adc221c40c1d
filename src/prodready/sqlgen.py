"""Generated SQL: identifiers always quoted by psycopg, never formatted into strings."""

from __future__ import annotations

from psycopg import sql


def render(query: sql.Composable) -> str:
    """SQL text for a composed statement, with no connection needed."""
    return query.as_string(None)


def qualified(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def idents(names: list[str]) -> sql.Composable:
    """A comma-separated list of quoted column names."""
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def split_statements(script: str) -> list[str]:
    """A script's statements as written; pglast finds the boundaries, not a naive split.

    Statements PostgreSQL refuses inside a transaction block (CREATE INDEX CONCURRENTLY,
    VACUUM, ALTER SYSTEM) must be sent one per call, which is what this is for.
    """
    from pglast import parse_sql

    pieces = []
    for statement in parse_sql(script):
        start, length = statement.stmt_location or 0, statement.stmt_len
        piece = script[start : start + length if length else None].strip()  # char offsets
        if piece:
            pieces.append(piece)
    return pieces
