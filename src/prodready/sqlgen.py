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
