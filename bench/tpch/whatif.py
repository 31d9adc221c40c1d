"""Measuring index sets the same way for every advisor: HypoPG what-if costs, real builds, timings.

Every figure in the benchmark tables goes through these helpers, so our advisor, the Extend
baseline and the no-index baseline are costed by one code path (EXPLAIN total cost of each
statement, weighted by its calls). The web-app benchmark reuses them.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import parse_sql
from pglast.ast import IndexStmt
from pglast.stream import RawStream
from psycopg import sql

EXPLAIN_TIMEOUT_MS = 60_000
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    """One workload statement to cost or time: a name, plannable SQL and its weight."""

    name: str
    sql: str
    weight: float = 1.0


@dataclass(frozen=True)
class BuiltIndex:
    """An index built for real: its name, table, size on disk and build time."""

    name: str
    table: str
    definition: str
    bytes: int
    seconds: float
    expression: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "definition": self.definition,
            "bytes": self.bytes,
            "build_s": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class Simulated:
    """A hypothetical index: its HypoPG size, or why HypoPG could not simulate it."""

    definition: str
    bytes: int | None
    error: str | None = None


@dataclass
class Built:
    """The indexes a `build` created, and the definitions the server refused (with why)."""

    indexes: list[BuiltIndex] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)  # created for these indexes

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.indexes)

    @property
    def seconds(self) -> float:
        return sum(i.seconds for i in self.indexes)

    def to_json(self) -> dict[str, Any]:
        return {
            "indexes": [i.to_json() for i in self.indexes],
            "failed": self.failed,
            "extensions_created": self.extensions,
        }


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def plain_ddl(definition: str) -> str:
    """The definition without CONCURRENTLY: a bench database has no traffic to protect, and
    HypoPG and a transaction both refuse it."""
    return _CONCURRENTLY.sub("", definition.strip().rstrip(";"), count=1)


def shape(definition: str) -> str:
    """An index definition without its name, CONCURRENTLY, IF NOT EXISTS or `public.`: two
    advisors recommend the same index when their shapes are equal."""
    statement = parse_sql(definition)[0].stmt
    if not isinstance(statement, IndexStmt):
        return definition.strip()
    statement.idxname = None
    statement.concurrent = False
    statement.if_not_exists = False
    if statement.relation is not None and statement.relation.schemaname == "public":
        statement.relation.schemaname = None
    return str(RawStream()(statement))


def ensure_hypopg(conn: psycopg.Connection) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")


_HYPOPG_SCHEMA: weakref.WeakKeyDictionary[psycopg.Connection, str] = weakref.WeakKeyDictionary()


def hypopg(conn: psycopg.Connection, template: str) -> sql.Composed:
    """`template` with `{h}` replaced by HypoPG's schema: it need not be on the search_path
    (the demo installs it in `extensions`, as Supabase does)."""
    if conn not in _HYPOPG_SCHEMA:
        row = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'hypopg'"
        ).fetchone()
        if row is None:
            raise RuntimeError("the hypopg extension is not installed in this database")
        _HYPOPG_SCHEMA[conn] = str(row[0])
    return sql.SQL(template).format(h=sql.Identifier(_HYPOPG_SCHEMA[conn]))


def set_timeout(conn: psycopg.Connection, ms: int) -> None:
    conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(ms)))


def plan_cost(conn: psycopg.Connection, statement: str) -> float:
    """EXPLAIN's total cost of the top plan node (the planner's estimate, nothing executed)."""
    row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + sql.SQL(statement)).fetchone()
    assert row is not None
    return float(row[0][0]["Plan"]["Total Cost"])


def hypothetical(conn: psycopg.Connection, definitions: Iterable[str]) -> list[Simulated]:
    """Replace this session's hypothetical indexes with `definitions`.

    What HypoPG refuses (GIN, aggregates...) is left out and reported, never fatal: such an
    index then brings no what-if benefit, which is all a what-if comparison can say of it.
    """
    conn.execute(hypopg(conn, "SELECT {h}.hypopg_reset()"))
    made = []
    for definition in definitions:
        try:
            row = conn.execute(
                hypopg(
                    conn,
                    "SELECT {h}.hypopg_relation_size(indexrelid) FROM {h}.hypopg_create_index(%s)",
                ),
                (plain_ddl(definition),),
            ).fetchone()
        except psycopg.Error as exc:
            made.append(Simulated(definition, None, _first_line(exc)))
            continue
        assert row is not None
        made.append(Simulated(definition, int(row[0])))
    return made


def costs(
    conn: psycopg.Connection, statements: Iterable[Statement], definitions: Iterable[str] = ()
) -> dict[str, float]:
    """Each statement's estimated cost with `definitions` as hypothetical indexes (unweighted)."""
    hypothetical(conn, definitions)
    try:
        return {s.name: plan_cost(conn, s.sql) for s in statements}
    finally:
        conn.execute(hypopg(conn, "SELECT {h}.hypopg_reset()"))


def weighted_total(statements: Iterable[Statement], cost: Mapping[str, float]) -> float:
    return sum(s.weight * cost[s.name] for s in statements)


# -- real indexes ---------------------------------------------------------------------------------


def index_oids(conn: psycopg.Connection, schema: str = "public") -> set[int]:
    rows = conn.execute(
        "SELECT i.indexrelid::int FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relnamespace = %s::regnamespace",
        (schema,),
    ).fetchall()
    return {int(r[0]) for r in rows}


def build(
    conn: psycopg.Connection, definitions: Iterable[str], *, timeout_ms: int = 1_800_000
) -> Built:
    """Create each index (without CONCURRENTLY); sizes from the catalog. A definition the
    server refuses (a missing extension's operator class...) is reported, not fatal.

    Only tables that got an expression index are analysed (its statistics need it): a
    fresh ANALYZE resamples every column, and the before/after costs would no longer be
    compared on the same statistics.
    """
    set_timeout(conn, timeout_ms)
    built = Built()
    definitions = list(definitions)
    built.extensions = _create_needed_extensions(conn, definitions)
    for definition in definitions:
        before = index_oids(conn)
        started = time.perf_counter()
        try:
            conn.execute(sql.SQL(plain_ddl(definition)))
        except psycopg.Error as exc:
            built.failed[definition] = _first_line(exc)
            continue
        seconds = time.perf_counter() - started
        for oid in sorted(index_oids(conn) - before):
            built.indexes.append(_describe(conn, oid, definition, seconds))
    for table in sorted({b.table for b in built.indexes if b.expression}):
        conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(table)))
    return built


def real_bytes(conn: psycopg.Connection, definition: str) -> int | None:
    """Size on disk of one index, built and dropped again; None when the server refuses it."""
    built = build(conn, [definition])
    try:
        return None if built.failed else built.bytes
    finally:
        drop(conn, built)


def _describe(conn: psycopg.Connection, oid: int, definition: str, seconds: float) -> BuiltIndex:
    row = conn.execute(
        "SELECT %s::regclass::text, i.indrelid::regclass::text, pg_relation_size(%s),"
        " i.indexprs IS NOT NULL FROM pg_index i WHERE i.indexrelid = %s",
        (oid, oid, oid),
    ).fetchone()
    assert row is not None
    return BuiltIndex(str(row[0]), str(row[1]), definition, int(row[2]), seconds, bool(row[3]))


def drop(conn: psycopg.Connection, built: Built) -> None:
    """Drop what `build` made: its indexes, then the extensions it created for them."""
    for index in built.indexes:
        # the name comes from regclass::text, already quoted where it needs to be
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.SQL(index.name)))
    for extension in built.extensions:
        conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {}").format(sql.Identifier(extension)))


# Operator classes an advisor may name that come from an extension, not from core.
_EXTENSION_OPCLASSES = {"pg_trgm": ("gin_trgm_ops", "gist_trgm_ops")}


def _create_needed_extensions(conn: psycopg.Connection, definitions: list[str]) -> list[str]:
    """Create the extensions the definitions' operator classes need, as a person applying
    them would (the trigram GIN suggestions need pg_trgm); the ones created, to drop later."""
    created = []
    for extension, opclasses in _EXTENSION_OPCLASSES.items():
        if not any(op in d for d in definitions for op in opclasses):
            continue
        row = conn.execute(
            "SELECT installed_version IS NULL FROM pg_available_extensions WHERE name = %s",
            (extension,),
        ).fetchone()
        if row is not None and row[0]:
            conn.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(extension)))
            created.append(extension)
    return created


# -- real execution ------------------------------------------------------------------------------


def run_timed(conn: psycopg.Connection, statement: str, timeout_ms: int) -> float | None:
    """Execute and fetch everything; seconds, or None when statement_timeout cancelled it."""
    set_timeout(conn, timeout_ms)
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(statement))
            if cur.description:
                cur.fetchall()
    except psycopg.errors.QueryCanceled:
        return None
    return time.perf_counter() - started
