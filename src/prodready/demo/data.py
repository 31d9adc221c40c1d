"""Load the marketplace schema and its generated data into a database.

The SQL lives beside this module (schema.sql, data.sql); data.sql is split into named
steps so callers can time them. Both need a superuser session: the schema creates
roles and an extension, and the loader skips foreign-key triggers while it bulk-loads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources

import psycopg
from psycopg import sql

# Row counts at scale 1.0; order_items follows from orders (about 2.3 items per order).
BASE_ROWS = {
    "users": 20_000,
    "sellers": 2_000,
    "products": 40_000,
    "orders": 150_000,
    "reviews": 60_000,
    "favorites": 40_000,
    "messages": 50_000,
    "audit": 20_000,
}
DEFAULT_SEED = 0.42

StepCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class Scale:
    """How many rows each generated table gets."""

    users: int
    sellers: int
    products: int
    orders: int
    reviews: int
    favorites: int
    messages: int
    audit: int

    @classmethod
    def of(cls, factor: float) -> Scale:
        """Counts for a scale factor (1.0 is the demo); tiny factors keep every table usable."""
        if factor <= 0:
            raise ValueError("scale factor must be positive")
        counts = {name: max(10, round(base * factor)) for name, base in BASE_ROWS.items()}
        # every seller owns products, and sellers are users: keep those ratios
        counts["users"] = max(counts["users"], counts["sellers"] * 2)
        counts["products"] = max(counts["products"], counts["sellers"] * 5)
        return cls(**counts)


def read_sql(name: str) -> str:
    return resources.files("prodready.demo").joinpath(name).read_text(encoding="utf-8")


def load_schema(conn: psycopg.Connection) -> None:
    """Create roles (if missing), schemas, tables, policies and grants of the marketplace app."""
    conn.execute(read_sql("schema.sql"))


def data_steps(scale: Scale, seed: float = DEFAULT_SEED) -> list[tuple[str, sql.Composed]]:
    """data.sql as (step name, statement text with the counts filled in as literals)."""
    if not -1.0 <= seed <= 1.0:
        raise ValueError("seed must be between -1 and 1 (PostgreSQL setseed)")
    values = {f"n_{name}": sql.Literal(count) for name, count in asdict(scale).items()}
    values["seed"] = sql.Literal(seed)
    steps = []
    for name, body in _split_steps(read_sql("data.sql")):
        steps.append((name, sql.SQL(body).format(**values)))
    return steps


def load_data(
    conn: psycopg.Connection,
    scale: Scale | float,
    *,
    seed: float = DEFAULT_SEED,
    on_step: StepCallback | None = None,
) -> dict[str, float]:
    """Generate the rows in this session (autocommit, superuser); return seconds per step.

    `scale` is a Scale or a factor of the demo's size (1.0: ~730k rows; 0.02 for tests).
    """
    timings: dict[str, float] = {}
    steps = data_steps(scale if isinstance(scale, Scale) else Scale.of(scale), seed)
    generate = [s for s in steps if s[0] not in _AFTER_COMMIT]
    # One transaction pins now(), so timestamps (and the orders sorted by them) do not depend
    # on how long each step took; it also keeps autoanalyze from changing plans mid-load.
    # The rows are consistent by construction: replica mode skips one FK lookup per row.
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for name, statement in generate:
            _timed(conn, name, statement, timings, on_step)
    for name, statement in steps:
        if name in _AFTER_COMMIT:
            _timed(conn, name, statement, timings, on_step)
    return timings


_AFTER_COMMIT = frozenset({"vacuum"})  # VACUUM refuses to run inside a transaction


def _timed(
    conn: psycopg.Connection,
    name: str,
    statement: sql.Composed,
    timings: dict[str, float],
    on_step: StepCallback | None,
) -> None:
    started = time.perf_counter()
    conn.execute(statement)
    timings[name] = time.perf_counter() - started
    if on_step is not None:
        on_step(name, timings[name])


_STEP = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)


def _split_steps(text: str) -> list[tuple[str, str]]:
    parts = _STEP.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]
