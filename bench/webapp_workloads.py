"""Index advisor vs hand-written index sets on three web-app workloads of our own.

    .venv/bin/python -m bench.webapp_workloads [--workload feed|taskboard|ingest ...]
        [--scale 1.0] [--passes 3] [--bindings 20] [--replay 1.0]

Workloads: `feed` (marketplace feed, filters, search, product pages), `taskboard`
(multi-tenant task board, two giant workspaces) and `ingest` (batch imports with dedup
lookups; inserts dominate). Each gets a throwaway cluster, a schema with keys only
(`bench/webapp_workloads_sql/<name>.sql`, deterministic data), and four index sets: none, the
hand-written set a competent team would write, and prodready's advice from two feeds: the
literal statements as a SQL file with `-- weight:` lines, and pg_stat_statements after a
replay of one minute of traffic (weights = calls) with server-side parameters.

Every statement runs with the same bindings under each set (drawn like traffic: values owning
many rows get most calls), warm, writes rolled back. `--passes` rounds each build every set
in turn (order reversed every other round) for a warm-up and a timed pass, so a neighbour's
load on a shared machine falls on all sets alike. Per binding the median over the rounds,
per statement the mean over its bindings, weighted ms = sum of weight x statement ms
(database ms per minute of traffic). Results go to bench/results/webapp_workloads.{json,md}.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import ClientCursor, sql
from psycopg.adapt import AdaptersMap
from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper

from bench.tpch import advisor, whatif
from prodready.pg.cluster import LocalCluster
from prodready.sqlgen import render, split_statements

HERE = Path(__file__).parent
DATA = HERE / "webapp_workloads_sql"  # not webapp_workloads/: mypy would take it for this module
RESULTS = HERE / "results"
# autovacuum off: statistics change only when the benchmark says so; jit off: on two cores
# it dominates the unindexed scans' time; shared_buffers holds every table and index warm
SETTINGS = {
    "autovacuum": "off",
    "jit": "off",
    "shared_buffers": "'1GB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
}
TRAFFIC_SHARE = 0.8  # draws weighted by the rows a value owns; the rest uniform (light ones)
LITERAL_SAMPLES = 3  # literal statements per query in the SQL-file feed
TIMING_SEED, LITERAL_SEED, REPLAY_SEED = 11, 23, 37
CALL_TIMEOUT_MS = 30_000
SLOWER_RATIO, SLOWER_MS = 1.2, 0.3  # "slower" beyond noise: both must hold
SAME_FEED_TOLERANCE = 0.2  # literal vs pg_stat_statements weighted ms
NONE, HAND, LITERAL, PGSS = "none", "hand", "prodready-literal", "prodready-pgss"

Log = Callable[[str], None]
Params = dict[str, Any]


# -- the vocabulary ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Values a parameter takes and the rows each owns; traffic follows the rows."""

    values: list[Any]
    rows: list[int]
    cumulative: list[int] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, pairs: list[tuple[Any, int]]) -> Pool:
        values, rows = [v for v, _ in pairs], [int(n) for _, n in pairs]
        running, total = [], 0
        for n in rows:
            total += n
            running.append(total)
        return cls(values, rows, running)

    def draw(self, rng: random.Random) -> tuple[Any, int]:
        """A value and its rows: weighted by rows TRAFFIC_SHARE of the time, else uniform."""
        if rng.random() < TRAFFIC_SHARE:
            i = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        else:
            i = rng.randrange(len(self.values))
        i = min(i, len(self.values) - 1)
        return self.values[i], self.rows[i]


@dataclass
class Pools:
    """The parameter pools of one loaded workload, and the database's clock at load."""

    pools: dict[str, Pool]
    now: datetime
    _groups: dict[str, dict[Any, list[Any]]] = field(default_factory=dict)

    def draw(self, rng: random.Random, name: str) -> tuple[Any, int]:
        return self.pools[name].draw(rng)

    def grouped(self, name: str) -> dict[Any, list[Any]]:
        """A pool of (key, value) pairs as key -> values, built once."""
        if name not in self._groups:
            groups: dict[Any, list[Any]] = {}
            for key, value in self.pools[name].values:
                groups.setdefault(key, []).append(value)
            self._groups[name] = groups
        return self._groups[name]


@dataclass(frozen=True)
class Binding:
    """One call's parameters and a short description for the report."""

    params: Params
    label: str


Draw = Callable[[random.Random, Pools], Binding]


@dataclass(frozen=True)
class Query:
    """A statement the app sends: psycopg placeholders, calls per minute, how to bind it."""

    name: str
    sql: str
    weight: float
    draw: Draw


@dataclass(frozen=True)
class HandIndex:
    """One index of the hand-written set."""

    table: str
    columns: tuple[str, ...]
    unique: bool = False

    def ddl(self) -> str:
        template = "CREATE UNIQUE INDEX ON {} ({})" if self.unique else "CREATE INDEX ON {} ({})"
        return render(
            sql.SQL(template).format(
                sql.Identifier("public", self.table),
                sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
            )
        )


@dataclass(frozen=True)
class Workload:
    """A schema-and-data script, the statements with weights, pools and the hand set."""

    name: str
    description: str
    queries: list[Query]
    hand: list[HandIndex]
    pools: dict[str, str]  # name -> SQL returning (value columns..., rows owned)

    @property
    def script(self) -> Path:
        return DATA / f"{self.name}.sql"


def _no_params(rng: random.Random, pools: Pools) -> Binding:
    return Binding({}, "-")


def _pick(rng: random.Random, pools: Pools, pool: str, param: str, unit: str) -> Binding:
    value, rows = pools.draw(rng, pool)
    return Binding({param: value}, f"{param}={value} ({rows:,} {unit})")


def _pages(rng: random.Random, rows: int, size: int, deepest: int = 20) -> int:
    """An offset as people page: mostly the first page, rarely deep, never past the end."""
    page = min(int(rng.expovariate(1.2)), deepest, max(0, rows - 1) // size)
    return page * size


# -- feed: marketplace ---------------------------------------------------------------------------

_FEED_LIST = "SELECT id, title, price, currency, seller_id, created_at FROM products"
_SEARCH = (
    "SELECT id, title, price, created_at FROM products"
    " WHERE status = 'active' AND title ILIKE %(pattern)s ORDER BY created_at DESC LIMIT 24"
)
_PRICE_BANDS = [(0, 20), (20, 50), (50, 100), (100, 250), (250, 1000)]


def _category(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "category", "category_id", "active products")


def _price_filter(rng: random.Random, pools: Pools) -> Binding:
    category, rows = pools.draw(rng, "category")
    low, high = rng.choice(_PRICE_BANDS)
    params = {"category_id": category, "low": Decimal(low), "high": Decimal(high)}
    return Binding(params, f"category_id={category} ({rows:,} active), price {low}-{high}")


def _seller_page(rng: random.Random, pools: Pools) -> Binding:
    seller, rows = pools.draw(rng, "seller")
    offset = _pages(rng, rows, 24)
    return Binding(
        {"seller_id": seller, "offset": offset},
        f"seller_id={seller} ({rows:,} products), offset {offset}",
    )


def _seller(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "seller", "seller_id", "products")


def _frequent_word(rng: random.Random, pools: Pools) -> Binding:
    word, rows = pools.draw(rng, "frequent_word")
    return Binding({"pattern": f"%{word}%"}, f"'%{word}%' ({rows:,} titles)")


def _rare_word(rng: random.Random, pools: Pools) -> Binding:
    word, rows = pools.draw(rng, "rare_word")
    return Binding({"pattern": f"%{word}%"}, f"'%{word}%' ({rows:,} titles)")


def _product(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "product", "product_id", "reviews+1")


def _favoriter(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "favoriter", "user_id", "favorites")


def _new_favorite(rng: random.Random, pools: Pools) -> Binding:
    user, _ = pools.draw(rng, "user")
    product, _ = pools.draw(rng, "product")
    return Binding({"user_id": user, "product_id": product}, f"user {user}, product {product}")


def _new_review(rng: random.Random, pools: Pools) -> Binding:
    user, _ = pools.draw(rng, "user")
    product, _ = pools.draw(rng, "product")
    params = {"product_id": product, "user_id": user, "rating": rng.randint(1, 5)}
    return Binding(params | {"body": "Arrived quickly, as described."}, f"product {product}")


def _new_listing(rng: random.Random, pools: Pools) -> Binding:
    seller, _ = pools.draw(rng, "seller")
    category, _ = pools.draw(rng, "category")
    params = {
        "seller_id": seller,
        "category_id": category,
        "title": f"Vintage Kalomi lamp {rng.randint(1, 999)}",
        "price": Decimal(rng.randint(5, 300)),
    }
    return Binding(params, f"seller {seller}, category {category}")


FEED = Workload(
    "feed",
    "marketplace feed, filters, search and product pages",
    queries=[
        Query(
            "home_feed",
            f"{_FEED_LIST} WHERE status = 'active' ORDER BY created_at DESC LIMIT 24",
            1200,
            _no_params,
        ),
        Query(
            "category_feed",
            f"{_FEED_LIST} WHERE category_id = %(category_id)s AND status = 'active'"
            " ORDER BY created_at DESC LIMIT 24",
            600,
            _category,
        ),
        Query(
            "price_filter",
            f"{_FEED_LIST} WHERE category_id = %(category_id)s AND status = 'active'"
            " AND price BETWEEN %(low)s AND %(high)s ORDER BY created_at DESC LIMIT 24",
            150,
            _price_filter,
        ),
        Query(
            "seller_page",
            "SELECT id, title, price, status, created_at FROM products"
            " WHERE seller_id = %(seller_id)s ORDER BY created_at DESC LIMIT 24 OFFSET %(offset)s",
            200,
            _seller_page,
        ),
        Query("search_frequent_word", _SEARCH, 80, _frequent_word),
        Query("search_rare_word", _SEARCH, 40, _rare_word),
        Query(
            "product_detail",
            "SELECT p.id, p.title, p.description, p.price, p.currency, p.status, p.created_at,"
            " s.id AS seller_id, s.shop_name, s.rating, s.verified, c.name AS category"
            " FROM products p JOIN sellers s ON s.id = p.seller_id"
            " JOIN categories c ON c.id = p.category_id WHERE p.id = %(product_id)s",
            900,
            _product,
        ),
        Query(
            "product_reviews",
            "SELECT r.id, r.rating, r.body, r.created_at, u.display_name"
            " FROM reviews r JOIN users u ON u.id = r.user_id"
            " WHERE r.product_id = %(product_id)s ORDER BY r.created_at DESC LIMIT 10",
            500,
            _product,
        ),
        Query(
            "favorite_count",
            "SELECT count(*) FROM favorites WHERE product_id = %(product_id)s",
            500,
            _product,
        ),
        Query(
            "user_favorites",
            "SELECT p.id, p.title, p.price, f.created_at AS favorited_at"
            " FROM favorites f JOIN products p ON p.id = f.product_id"
            " WHERE f.user_id = %(user_id)s ORDER BY f.created_at DESC LIMIT 50",
            100,
            _favoriter,
        ),
        Query(
            "seller_rating",
            "SELECT count(*) AS reviews, round(avg(r.rating), 2) AS rating"
            " FROM reviews r JOIN products p ON p.id = r.product_id"
            " WHERE p.seller_id = %(seller_id)s",
            100,
            _seller,
        ),
        Query(
            "add_favorite",
            "INSERT INTO favorites (user_id, product_id) VALUES (%(user_id)s, %(product_id)s)"
            " ON CONFLICT DO NOTHING",
            60,
            _new_favorite,
        ),
        Query(
            "add_review",
            "INSERT INTO reviews (product_id, user_id, rating, body)"
            " VALUES (%(product_id)s, %(user_id)s, %(rating)s, %(body)s) RETURNING id",
            10,
            _new_review,
        ),
        Query(
            "mark_sold",
            "UPDATE products SET status = 'sold', updated_at = now()"
            " WHERE id = %(product_id)s AND status = 'active'",
            30,
            _product,
        ),
        Query(
            "new_listing",
            "INSERT INTO products (seller_id, category_id, status, title, description, price)"
            " VALUES (%(seller_id)s, %(category_id)s, 'active', %(title)s, '', %(price)s)"
            " RETURNING id",
            20,
            _new_listing,
        ),
    ],
    hand=[
        HandIndex("products", ("status", "created_at")),
        HandIndex("products", ("category_id", "created_at")),
        HandIndex("products", ("seller_id", "created_at")),
        HandIndex("reviews", ("product_id",)),
        HandIndex("favorites", ("product_id",)),
    ],
    pools={
        "category": "SELECT category_id, count(*) FROM products WHERE status = 'active'"
        " GROUP BY 1 ORDER BY 1",
        "seller": "SELECT seller_id, count(*) FROM products GROUP BY 1 ORDER BY 1",
        "product": "SELECT p.id, 1 + count(r.id) FROM products p"
        " LEFT JOIN reviews r ON r.product_id = p.id GROUP BY p.id ORDER BY p.id",
        "favoriter": "SELECT user_id, count(*) FROM favorites GROUP BY 1 ORDER BY 1",
        "user": "SELECT id, 1 FROM users ORDER BY id",
        # the words that open 15 % and 7 % of the titles; brands found in 5-60 titles
        "frequent_word": "SELECT lower(split_part(title, ' ', 1)), count(*) FROM products"
        " WHERE title LIKE 'Vintage %' OR title LIKE 'Handmade %' GROUP BY 1 ORDER BY 1",
        "rare_word": "SELECT lower(split_part(title, ' ', 2)), count(*) FROM products"
        " GROUP BY 1 HAVING count(*) BETWEEN 5 AND 60 ORDER BY 1",
    },
)


# -- taskboard: multi-tenant task board ----------------------------------------------------------


def _board(rng: random.Random, pools: Pools) -> Binding:
    project, rows = pools.draw(rng, "project")
    status = rng.choices(["todo", "doing", "done"], [45, 35, 20])[0]
    return Binding(
        {"project_id": project, "status": status},
        f"project_id={project} ({rows:,} tasks), status={status}",
    )


def _project(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "project", "project_id", "tasks")


def _assignee(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "assignee", "user_id", "open tasks")


def _workspace(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "workspace", "workspace_id", "tasks")


def _task(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "task", "task_id", "comments+1")


def _task_update(rng: random.Random, pools: Pools) -> Binding:
    task, _ = pools.draw(rng, "task")
    status = rng.choice(["todo", "doing", "done"])
    return Binding({"task_id": task, "status": status}, f"task {task} -> {status}")


def _new_comment(rng: random.Random, pools: Pools) -> Binding:
    task, _ = pools.draw(rng, "task")
    author, _ = pools.draw(rng, "user")
    params = {"task_id": task, "author_id": author, "body": "Looks good, merging."}
    return Binding(params, f"task {task}")


def _new_task(rng: random.Random, pools: Pools) -> Binding:
    (project, workspace), _ = pools.draw(rng, "project_workspace")
    user, _ = pools.draw(rng, "user")
    params = {
        "workspace_id": workspace,
        "project_id": project,
        "user_id": user,
        "title": f"New task {rng.randint(1, 10**6)}",
        "position": rng.randint(0, 100_000),
        "due_date": (pools.now + timedelta(days=rng.randint(1, 30))).date(),
    }
    return Binding(params, f"project {project} (workspace {workspace})")


_OPEN = "status <> 'done' AND deleted_at IS NULL"

TASKBOARD = Workload(
    "taskboard",
    "multi-tenant task board (two giant workspaces own ~40 % of the tasks)",
    queries=[
        Query(
            "board_column",
            "SELECT id, title, status, assignee_id, priority, due_date, position FROM tasks"
            " WHERE project_id = %(project_id)s AND status = %(status)s AND deleted_at IS NULL"
            " ORDER BY position LIMIT 100",
            800,
            _board,
        ),
        Query(
            "my_open_tasks",
            "SELECT id, project_id, title, status, due_date FROM tasks"
            f" WHERE assignee_id = %(user_id)s AND {_OPEN} ORDER BY due_date LIMIT 50",
            400,
            _assignee,
        ),
        Query(
            "overdue",
            "SELECT id, project_id, title, assignee_id, due_date FROM tasks"
            f" WHERE workspace_id = %(workspace_id)s AND {_OPEN} AND due_date < current_date"
            " ORDER BY due_date LIMIT 100",
            100,
            _workspace,
        ),
        Query(
            "recent_activity",
            "SELECT id, project_id, title, status, updated_at FROM tasks"
            " WHERE workspace_id = %(workspace_id)s ORDER BY updated_at DESC LIMIT 50",
            300,
            _workspace,
        ),
        Query(
            "task_detail",
            "SELECT t.id, t.title, t.description, t.status, t.priority, t.assignee_id,"
            " t.due_date, t.created_at, t.updated_at, p.id AS project_id, p.name AS project"
            " FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = %(task_id)s",
            700,
            _task,
        ),
        Query(
            "task_comments",
            "SELECT c.id, c.body, c.created_at, u.name AS author"
            " FROM comments c JOIN users u ON u.id = c.author_id"
            " WHERE c.task_id = %(task_id)s ORDER BY c.created_at",
            600,
            _task,
        ),
        Query(
            "status_counts",
            "SELECT status, count(*) FROM tasks"
            " WHERE project_id = %(project_id)s AND deleted_at IS NULL GROUP BY status",
            200,
            _project,
        ),
        Query(
            "project_list",
            "SELECT id, name, created_at FROM projects"
            " WHERE workspace_id = %(workspace_id)s AND NOT archived ORDER BY name",
            200,
            _workspace,
        ),
        Query(
            "update_task",
            "UPDATE tasks SET status = %(status)s, updated_at = now() WHERE id = %(task_id)s",
            150,
            _task_update,
        ),
        Query(
            "add_comment",
            "INSERT INTO comments (task_id, author_id, body)"
            " VALUES (%(task_id)s, %(author_id)s, %(body)s) RETURNING id, created_at",
            80,
            _new_comment,
        ),
        Query(
            "create_task",
            "INSERT INTO tasks (workspace_id, project_id, reporter_id, assignee_id, title,"
            " status, position, due_date) VALUES (%(workspace_id)s, %(project_id)s,"
            " %(user_id)s, %(user_id)s, %(title)s, 'todo', %(position)s, %(due_date)s)"
            " RETURNING id",
            40,
            _new_task,
        ),
    ],
    hand=[
        HandIndex("tasks", ("project_id", "status")),
        HandIndex("tasks", ("assignee_id",)),
        HandIndex("tasks", ("workspace_id", "updated_at")),
        HandIndex("comments", ("task_id",)),
        HandIndex("projects", ("workspace_id",)),
    ],
    pools={
        "workspace": "SELECT workspace_id, count(*) FROM tasks GROUP BY 1 ORDER BY 1",
        "project": "SELECT project_id, count(*) FROM tasks GROUP BY 1 ORDER BY 1",
        "project_workspace": "SELECT project_id, workspace_id, count(*) FROM tasks"
        " GROUP BY 1, 2 ORDER BY 1",
        "assignee": f"SELECT assignee_id, count(*) FROM tasks WHERE {_OPEN}"
        " AND assignee_id IS NOT NULL GROUP BY 1 ORDER BY 1",
        "task": "SELECT t.id, 1 + count(c.id) FROM tasks t"
        " LEFT JOIN comments c ON c.task_id = t.id GROUP BY t.id ORDER BY t.id",
        "user": "SELECT id, 1 FROM users ORDER BY id",
    },
)


# -- ingest: batch imports -----------------------------------------------------------------------

BATCH_ROWS = 50  # rows per import batch, and external ids per dedup lookup
_KINDS = ["order.created", "order.paid", "signup", "page_view", "invoice"]


def _import_batch(rng: random.Random, pools: Pools) -> Binding:
    source, rows = pools.draw(rng, "source")
    start = rng.getrandbits(40)
    stamp = pools.now + timedelta(seconds=rng.randint(0, 3600))
    kinds = [rng.choice(_KINDS) for _ in range(BATCH_ROWS)]
    params = {
        "sources": [source] * BATCH_ROWS,
        "external_ids": [f"imp_{start + i:x}" for i in range(BATCH_ROWS)],
        "kinds": kinds,
        "amounts": [Decimal(rng.randint(0, 10_000)) / 100 for _ in range(BATCH_ROWS)],
        "payloads": [json.dumps({"kind": k, "qty": rng.randint(0, 9)}) for k in kinds],
        "times": [stamp + timedelta(milliseconds=10 * i) for i in range(BATCH_ROWS)],
    }
    return Binding(params, f"{BATCH_ROWS} rows for source {source} ({rows:,} events)")


def _dedup(rng: random.Random, pools: Pools) -> Binding:
    """A batch's external ids: about 40 % already imported (re-sent), the rest new."""
    source, rows = pools.draw(rng, "source")
    seen = pools.grouped("recent_external_ids").get(source, [])
    resent = min(len(seen), int(0.4 * BATCH_ROWS))
    ids = rng.sample(seen, resent) if resent else []
    start = rng.getrandbits(40)
    ids += [f"imp_{start + i:x}" for i in range(BATCH_ROWS - resent)]
    return Binding(
        {"source_id": source, "external_ids": ids},
        f"source_id={source} ({rows:,} events), {resent} of {BATCH_ROWS} known",
    )


def _source(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "source", "source_id", "events")


def _source_page(rng: random.Random, pools: Pools) -> Binding:
    source, rows = pools.draw(rng, "source")
    limit = rng.choice([50, 100])
    offset = _pages(rng, rows, limit, deepest=10)
    return Binding(
        {"source_id": source, "limit": limit, "offset": offset},
        f"source_id={source} ({rows:,} events), limit {limit} offset {offset}",
    )


def _rollup(rng: random.Random, pools: Pools) -> Binding:
    source, rows = pools.draw(rng, "source")
    days = rng.choices([7, 30], [70, 30])[0]
    params = {"source_id": source, "start": pools.now - timedelta(days=days), "end": pools.now}
    return Binding(params, f"source_id={source} ({rows:,} events), last {days} days")


def _unprocessed(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "unprocessed", "event_id", "row")


def _event(rng: random.Random, pools: Pools) -> Binding:
    return _pick(rng, pools, "event", "event_id", "row")


INGEST = Workload(
    "ingest",
    "batch imports with dedup lookups (inserts dominate), three sources send 58 %",
    queries=[
        Query(
            "import_batch",
            "INSERT INTO events (source_id, external_id, kind, amount, payload, created_at)"
            " SELECT s, e, k, a, p::jsonb, c FROM unnest(%(sources)s::bigint[],"
            " %(external_ids)s::text[], %(kinds)s::text[], %(amounts)s::numeric[],"
            " %(payloads)s::text[], %(times)s::timestamptz[]) AS r(s, e, k, a, p, c)",
            1200,
            _import_batch,
        ),
        Query(
            "dedup_lookup",
            "SELECT external_id FROM events"
            " WHERE source_id = %(source_id)s AND external_id = ANY(%(external_ids)s::text[])",
            1200,
            _dedup,
        ),
        Query(
            "source_checkpoint",
            "UPDATE sources SET last_import_at = now() WHERE id = %(source_id)s",
            1200,
            _source,
        ),
        Query(
            "mark_processed",
            "UPDATE events SET processed_at = now()"
            " WHERE id = %(event_id)s AND processed_at IS NULL",
            300,
            _unprocessed,
        ),
        Query(
            "event_detail",
            "SELECT id, source_id, external_id, kind, amount, payload, created_at,"
            " processed_at FROM events WHERE id = %(event_id)s",
            100,
            _event,
        ),
        Query(
            "source_page",
            "SELECT id, external_id, kind, amount, created_at FROM events"
            " WHERE source_id = %(source_id)s ORDER BY created_at DESC"
            " LIMIT %(limit)s OFFSET %(offset)s",
            60,
            _source_page,
        ),
        Query(
            "import_status",
            "SELECT count(*) FROM events"
            " WHERE source_id = %(source_id)s AND created_at >= now() - interval '1 hour'",
            60,
            _source,
        ),
        Query(
            "daily_rollup",
            "SELECT date_trunc('day', created_at) AS day, count(*) AS events,"
            " sum(amount) AS amount FROM events WHERE source_id = %(source_id)s"
            " AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1 ORDER BY 1",
            20,
            _rollup,
        ),
    ],
    hand=[
        HandIndex("events", ("source_id", "external_id"), unique=True),
        HandIndex("events", ("source_id", "created_at")),
    ],
    pools={
        "source": "SELECT source_id, count(*) FROM events GROUP BY 1 ORDER BY 1",
        "recent_external_ids": "SELECT source_id, external_id, 1 FROM events"
        " WHERE id > (SELECT max(id) - 50000 FROM events) ORDER BY id",
        "unprocessed": "SELECT id, 1 FROM events WHERE processed_at IS NULL ORDER BY id",
        "event": "SELECT id, 1 FROM events WHERE id % 37 = 0 ORDER BY id",
    },
)

WORKLOADS = {w.name: w for w in (FEED, TASKBOARD, INGEST)}


# -- configuration and results -------------------------------------------------------------------


@dataclass
class Config:
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    scale: float = 1.0
    passes: int = 3  # rounds, each a warm-up and a timed pass per set; per binding the median
    bindings: int = 20  # timing bindings per statement
    replay: float = 1.0  # minutes of traffic replayed into pg_stat_statements
    advisor: bool = True


@dataclass
class Loaded:
    """A loaded workload database: its DSN, row counts, load time and parameter pools."""

    dsn: str
    rows: dict[str, int]
    load_s: float
    pools: Pools


@dataclass
class StatementTiming:
    """One statement under one index set: per-binding medians and their plan shapes."""

    binding_ms: list[float]
    binding_plan: list[int]  # index into plans
    plans: list[str]

    @property
    def ms(self) -> float:
        """The mean over bindings: a heavy tenant's slow calls count as often as they occur."""
        return statistics.fmean(self.binding_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.binding_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "ms": round(self.ms, 3),
            "median_ms": round(self.median_ms, 3),
            "binding_ms": [round(m, 3) for m in self.binding_ms],
            "binding_plan": self.binding_plan,
            "plans": self.plans,
        }


@dataclass
class SetResult:
    """An index set built for real and timed."""

    name: str
    definitions: list[str]
    built: whatif.Built
    timings: dict[str, StatementTiming]
    weighted_ms: float
    # sum of weight x each statement's median binding: blind to heavy tenants, for contrast
    weighted_median_ms: float
    weighted_by_round: list[float]
    advisor: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "definitions": self.definitions,
            "bytes": self.built.bytes,
            "built": self.built.to_json(),
            "weighted_ms": round(self.weighted_ms, 2),
            "weighted_ms_median_bindings": round(self.weighted_median_ms, 2),
            "weighted_by_round": self.weighted_by_round,
            "statements": {k: v.to_json() for k, v in self.timings.items()},
            "advisor": self.advisor,
        }


# -- the story -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    started = time.perf_counter()
    result: dict[str, Any] = header(config)
    for name in config.workloads:
        workload = WORKLOADS[name]
        with LocalCluster(settings=SETTINGS) as cluster:
            loaded = prepare(cluster, workload, config, log=_log)
            result["server_version"] = _server_version(loaded.dsn)
            result["workloads"][name] = run(loaded, workload, config, log=_log)
    result["summary"] = summarise(result["workloads"])
    result["total_s"] = round(time.perf_counter() - started, 1)
    markdown = render_markdown(result)
    RESULTS.mkdir(exist_ok=True)
    stem = "webapp_workloads" + ("" if config.scale == 1 else f"_scale{config.scale:g}")
    if set(config.workloads) != set(WORKLOADS):
        stem += "_" + "_".join(config.workloads)
    (RESULTS / f"{stem}.json").write_text(dumps(result))
    (RESULTS / f"{stem}.md").write_text(markdown)
    print(markdown)
    return 0


def prepare(
    cluster: LocalCluster,
    workload: Workload,
    config: Config,
    *,
    database: str | None = None,
    log: Log = print,
) -> Loaded:
    """Create the database, load schema and data, settle statistics, read the pools."""
    database = database or workload.name
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(sql.Identifier(database)))
    dsn = cluster.dsn(database)
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        whatif.ensure_hypopg(conn)
        conn.execute("SELECT set_config('bench.scale', %s, false)", (str(config.scale),))
        for statement in split_statements(workload.script.read_text()):
            conn.execute(sql.SQL(statement))  # our own file: no identifiers to quote
        conn.execute("VACUUM ANALYZE")
        load_s = time.perf_counter() - started
        rows = _row_counts(conn)
        pools = load_pools(conn, workload)
    log(f"{workload.name}: loaded {sum(rows.values()):,} rows in {load_s:.0f}s")
    return Loaded(dsn, rows, load_s, pools)


def run(loaded: Loaded, workload: Workload, config: Config, *, log: Log = print) -> dict[str, Any]:
    """Replay, advise from both feeds, then build and time every set; flags and summary."""
    plan = timing_plan(workload, loaded.pools, config.bindings)
    result: dict[str, Any] = {
        "description": workload.description,
        "rows": loaded.rows,
        "load_s": round(loaded.load_s, 1),
        "statements": {
            q.name: {"weight": q.weight, "sql": q.sql, "bindings": [b.label for b in plan[q.name]]}
            for q in workload.queries
        },
        "notes": [],
    }
    result["replay"] = replay(loaded, workload, config.replay)
    log(f"{workload.name}: replayed {result['replay']['calls']} calls")
    feeds = _advise_feeds(loaded, workload, config, result, log) if config.advisor else {}
    sets: dict[str, tuple[list[str], dict[str, Any] | None]] = {
        NONE: ([], None),
        HAND: ([h.ddl() for h in workload.hand], None),
    }
    for name, found in feeds.items():
        sets[name] = (found["definitions"], found)
    definitions = {name: ddl for name, (ddl, _) in sets.items()}
    measured = measure_sets(loaded.dsn, workload, plan, definitions, config.passes)
    for name, entry in measured.items():
        entry.advisor = sets[name][1]
        log(
            f"{workload.name}: {name}: {len(entry.definitions)} indexes,"
            f" {entry.built.bytes / 2**20:.1f} MB, weighted {entry.weighted_ms:,.0f} ms"
        )
    result["sets"] = {k: v.to_json() for k, v in measured.items()}
    result["flags"] = flag(workload, plan, measured)
    result["table"] = headline(measured)
    return result


def header(config: Config) -> dict[str, Any]:
    return {
        "benchmark": "webapp_workloads",
        "scale": config.scale,
        "passes": config.passes,
        "bindings": config.bindings,
        "replay_minutes": config.replay,
        "traffic_share": TRAFFIC_SHARE,
        "literal_samples": LITERAL_SAMPLES,
        "slower": {"ratio": SLOWER_RATIO, "ms": SLOWER_MS},
        "machine": {"cores": os.cpu_count()},
        "settings": SETTINGS,
        "revision": _revision(),
        "workloads": {},
    }


def _revision() -> dict[str, Any] | None:
    """The commit measured, and the advisor files changed on top of it (work in progress)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/prodready/advisor"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": head, "advisor_changes": [line[3:] for line in dirty if line.strip()]}


# -- parameters ----------------------------------------------------------------------------------


def load_pools(conn: psycopg.Connection, workload: Workload) -> Pools:
    """Each pool's (value, rows) pairs; multi-column values become tuples."""
    pools = {}
    for name, query in workload.pools.items():
        rows = conn.execute(sql.SQL(query)).fetchall()
        pairs = [(r[0] if len(r) == 2 else tuple(r[:-1]), int(r[-1])) for r in rows]
        pools[name] = Pool.of(pairs)
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return Pools(pools, row[0])


def timing_plan(workload: Workload, pools: Pools, count: int) -> dict[str, list[Binding]]:
    """`count` bindings per statement, drawn once so every set runs the same calls."""
    rng = random.Random(TIMING_SEED)
    return {q.name: [q.draw(rng, pools) for _ in range(count)] for q in workload.queries}


def _consistent_ints(adapters: AdaptersMap) -> None:
    """Every int as bigint, as an app's driver sends it: one pg_stat_statements entry each."""
    adapters.register_dumper(int, Int8Dumper)
    adapters.register_dumper(int, Int8BinaryDumper)


def _connect(dsn: str) -> psycopg.Connection:
    """An app-like session: server-side parameters, no prepared statements (custom plans)."""
    conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    _consistent_ints(conn.adapters)
    whatif.set_timeout(conn, CALL_TIMEOUT_MS)
    return conn


def _call(conn: psycopg.Connection, query: Query, params: Params) -> float:
    """Milliseconds of one call (execute and fetch), inside a transaction rolled back."""
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(query.sql, params)
        if cur.description:
            cur.fetchall()
        return 1000 * (time.perf_counter() - started)


# -- the advisor's two feeds ---------------------------------------------------------------------


def replay(loaded: Loaded, workload: Workload, minutes: float) -> dict[str, Any]:
    """Reset pg_stat_statements and run `minutes` of traffic (weight = calls per minute),
    shuffled, writes rolled back; then VACUUM the dead rows away."""
    rng = random.Random(REPLAY_SEED)
    calls = [
        (q, q.draw(rng, loaded.pools).params)
        for q in workload.queries
        for _ in range(max(1, round(q.weight * minutes)))
    ]
    rng.shuffle(calls)
    with psycopg.connect(loaded.dsn, autocommit=True) as conn:
        _reset_statements(conn)
    started = time.perf_counter()
    with _connect(loaded.dsn) as conn:
        for query, params in calls:
            _call(conn, query, params)
    seconds = time.perf_counter() - started
    with psycopg.connect(loaded.dsn, autocommit=True) as conn:
        conn.execute("VACUUM")
    return {"calls": len(calls), "seconds": round(seconds, 1)}


def _reset_statements(conn: psycopg.Connection) -> None:
    """Forget this database's pg_stat_statements entries. The marker keeps the reset call
    itself (which pg_stat_statements records next) out of the advisor's feed, as it keeps
    prodready's own queries out."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    assert row is not None, "pg_stat_statements is created by prepare()"
    reset = sql.SQL(
        "SELECT /* prodready */ {}.pg_stat_statements_reset(0, d.oid, 0)"
        " FROM pg_database d WHERE d.datname = current_database()"
    ).format(sql.Identifier(row[0]))
    conn.execute(reset)


def write_literal_sql(
    conn: psycopg.Connection, workload: Workload, pools: Pools, path: Path
) -> Path:
    """The workload as literal SQL: LITERAL_SAMPLES bindings per statement, weight split."""
    rng = random.Random(LITERAL_SEED)
    cursor = ClientCursor(conn)
    _consistent_ints(cursor.adapters)
    lines = [f"-- {workload.name}: {workload.description}; weights are calls per minute.", ""]
    for query in workload.queries:
        for _ in range(LITERAL_SAMPLES):
            statement = cursor.mogrify(query.sql, query.draw(rng, pools).params)
            weight = round(query.weight / LITERAL_SAMPLES, 2)
            lines += [f"-- name: {query.name}", f"-- weight: {weight:g}", f"{statement};", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _advise_feeds(
    loaded: Loaded, workload: Workload, config: Config, result: dict[str, Any], log: Log
) -> dict[str, dict[str, Any]]:
    """Advice from pg_stat_statements (read first, before anything else runs) and from the
    literal file; a failing feed is recorded, not fatal."""
    if not advisor.available():
        result["notes"].append("prodready.advisor is not importable: advisor skipped")
        return {}
    with tempfile.TemporaryDirectory(prefix="prodready-workloads-") as tmp:
        with psycopg.connect(loaded.dsn, autocommit=True) as conn:
            pgss = advisor.from_pg_stat_statements(conn)
            path = write_literal_sql(conn, workload, loaded.pools, Path(tmp) / "workload.sql")
        queries = {PGSS: pgss, LITERAL: advisor.from_sql_file(path)}
    feeds = {}
    for name in (LITERAL, PGSS):
        try:
            feeds[name] = advise(loaded.dsn, queries[name])
        except Exception as exc:  # an engine crash is a finding: report it and go on
            result.setdefault("advisor_errors", {})[name] = advisor.describe_error(exc)
            log(f"{workload.name}: {name}: advisor failed: {exc}")
            continue
        found = feeds[name]
        log(
            f"{workload.name}: {name}: {found['statements']} statements,"
            f" {len(found['definitions'])} indexes in {found['wall_s']:.1f}s"
        )
    return feeds


def advise(dsn: str, queries: list[Any]) -> dict[str, Any]:
    """Bind and advise with default options; wall time covers both steps."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        bound, skipped = advisor.bind(conn, queries)
    bind_s = time.perf_counter() - started
    found = advisor.advise(dsn, bound, skipped)
    rate = advisor.hit_rate(found)
    return {
        "statements": len(queries),
        "definitions": [i.definition for i in found.indexes],
        "wall_s": round(time.perf_counter() - started, 2),
        "bind_s": round(bind_s, 2),
        "engine_s": round(found.elapsed_s, 2),
        "whatif_calls": found.whatif_calls,
        "cache_hit_rate": None if rate is None else round(rate, 3),
        "bound": [{"method": b.method, "calls": b.query.calls, "sql": _clip(b.sql)} for b in bound],
        "skipped": [s.to_json() for s in found.skipped],
        "drops": [d.to_json() for d in found.drops],
        "recommendations": [i.to_json() for i in found.indexes],
        "estimated_cost": {
            "before": round(found.workload_cost_before, 1),
            "after": round(found.workload_cost_after, 1),
        },
        "notes": found.notes,
    }


def _clip(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- measuring one set ---------------------------------------------------------------------------


Run = dict[str, list[float]]  # statement -> ms per binding, one pass


def measure_sets(
    dsn: str,
    workload: Workload,
    plan: dict[str, list[Binding]],
    sets: dict[str, list[str]],
    rounds: int,
) -> dict[str, SetResult]:
    """Time every set in `rounds` rounds; each round visits every set (build, warm-up pass,
    timed pass, drop), in reverse order every other round, so that a neighbour's load on a
    shared machine falls on all sets alike rather than on whichever was timed then."""
    runs: dict[str, list[Run]] = {name: [] for name in sets}
    built: dict[str, whatif.Built] = {}
    shapes: dict[str, dict[str, tuple[list[str], list[int]]]] = {}
    names = list(sets)
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            done, run, seen = _round(dsn, workload, plan, sets[name], explain=name not in shapes)
            built.setdefault(name, done)
            shapes.setdefault(name, seen)
            runs[name].append(run)
    return {
        name: _result(name, workload, plan, sets[name], built[name], runs[name], shapes[name])
        for name in names
    }


def _round(
    dsn: str,
    workload: Workload,
    plan: dict[str, list[Binding]],
    definitions: list[str],
    *,
    explain: bool,
) -> tuple[whatif.Built, Run, dict[str, tuple[list[str], list[int]]]]:
    """Build the set, a warm-up pass, a timed pass, its plans if asked, drop it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        built = whatif.build(conn, definitions)
    try:
        with _connect(dsn) as conn:
            _pass(conn, workload, plan)
            run = _pass(conn, workload, plan)
            shapes = (
                {q.name: _plans(conn, q, plan[q.name]) for q in workload.queries} if explain else {}
            )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            whatif.drop(conn, built)
    return built, run, shapes


def _result(
    name: str,
    workload: Workload,
    plan: dict[str, list[Binding]],
    definitions: list[str],
    built: whatif.Built,
    runs: list[Run],
    shapes: dict[str, tuple[list[str], list[int]]],
) -> SetResult:
    """Per binding the median over the rounds; weighted totals over statements."""
    timings = {}
    for query in workload.queries:
        medians = [
            statistics.median(run[query.name][i] for run in runs)
            for i in range(len(plan[query.name]))
        ]
        plans, which = shapes[query.name]
        timings[query.name] = StatementTiming(medians, which, plans)
    weights = {q.name: q.weight for q in workload.queries}
    weighted = sum(weights[n] * t.ms for n, t in timings.items())
    weighted_median = sum(weights[n] * t.median_ms for n, t in timings.items())
    by_round = [
        round(sum(weights[n] * statistics.fmean(ms) for n, ms in run.items()), 1) for run in runs
    ]
    return SetResult(name, definitions, built, timings, weighted, weighted_median, by_round)


def _pass(
    conn: psycopg.Connection, workload: Workload, plan: dict[str, list[Binding]]
) -> dict[str, list[float]]:
    """Every statement with every binding; VACUUM after, as the rolled-back writes leave
    dead rows that the next pass would otherwise scan."""
    timings = {q.name: [_call(conn, q, b.params) for b in plan[q.name]] for q in workload.queries}
    conn.execute("VACUUM")
    return timings


def _plans(
    conn: psycopg.Connection, query: Query, bindings: list[Binding]
) -> tuple[list[str], list[int]]:
    """The distinct plan shapes of a statement's bindings, and each binding's shape."""
    shapes: list[str] = []
    which = []
    for binding in bindings:
        text = "EXPLAIN (FORMAT JSON) " + query.sql
        row = conn.execute(text, binding.params).fetchone()
        assert row is not None
        shape = plan_shape(row[0][0]["Plan"])
        if shape not in shapes:
            shapes.append(shape)
        which.append(shapes.index(shape))
    return shapes, which


def plan_shape(node: dict[str, Any]) -> str:
    """A plan on one line: node types, indexes and tables, children in brackets."""
    label = node["Node Type"]
    if label == "ModifyTable":
        label = node.get("Operation", label)
    if node.get("Scan Direction") == "Backward":
        label += " Backward"
    if "Index Name" in node:
        label += f" using {node['Index Name']}"
    if "Relation Name" in node:
        label += f" on {node['Relation Name']}"
    children = [plan_shape(child) for child in node.get("Plans", [])]
    if not children:
        return label
    if len(children) == 1:
        return f"{label} > {children[0]}"
    return f"{label} ({'; '.join(children)})"


# -- verdicts ------------------------------------------------------------------------------------


def slower(ms: float, reference: float) -> bool:
    """Slower beyond noise: more than SLOWER_RATIO times and SLOWER_MS ms more."""
    return ms > SLOWER_RATIO * reference and ms - reference > SLOWER_MS


def flag(
    workload: Workload, plan: dict[str, list[Binding]], sets: dict[str, SetResult]
) -> list[dict[str, Any]]:
    """Statements a set makes slower than no index, and prodready's slower than the hand set."""
    pairs = [(name, NONE) for name in sets if name != NONE]
    pairs += [(name, HAND) for name in (LITERAL, PGSS) if name in sets and HAND in sets]
    found = []
    for name, reference in pairs:
        for query in workload.queries:
            mine, theirs = sets[name].timings[query.name], sets[reference].timings[query.name]
            if slower(mine.ms, theirs.ms):
                found.append(_flag(name, reference, query, plan[query.name], mine, theirs))
    return found


def _flag(
    name: str,
    reference: str,
    query: Query,
    bindings: list[Binding],
    mine: StatementTiming,
    theirs: StatementTiming,
) -> dict[str, Any]:
    """The verdict with the bindings that lost most, each with both plans' shapes."""
    order = sorted(range(len(bindings)), key=lambda i: theirs.binding_ms[i] - mine.binding_ms[i])
    worst = [
        {
            "binding": bindings[i].label,
            "ms": round(mine.binding_ms[i], 3),
            "reference_ms": round(theirs.binding_ms[i], 3),
            "plan": mine.plans[mine.binding_plan[i]],
            "reference_plan": theirs.plans[theirs.binding_plan[i]],
        }
        for i in order[:3]
    ]
    return {
        "set": name,
        "reference": reference,
        "statement": query.name,
        "weight": query.weight,
        "ms": round(mine.ms, 3),
        "reference_ms": round(theirs.ms, 3),
        "ratio": round(mine.ms / theirs.ms, 2) if theirs.ms else None,
        "worst_bindings": worst,
    }


def headline(sets: dict[str, SetResult]) -> list[dict[str, Any]]:
    """One row per set: indexes, MB, weighted ms, speedup vs none, ratio to the hand set."""
    none, hand = sets[NONE].weighted_ms, sets[HAND].weighted_ms
    return [
        {
            "set": name,
            "indexes": len(entry.definitions),
            "mb": round(entry.built.bytes / 2**20, 1),
            "weighted_ms": round(entry.weighted_ms, 1),
            "weighted_ms_median_bindings": round(entry.weighted_median_ms, 1),
            "speedup_vs_none": round(none / entry.weighted_ms, 2),
            "ratio_to_hand": round(entry.weighted_ms / hand, 3),
            "round_spread": _spread(entry.weighted_by_round),
        }
        for name, entry in sets.items()
    ]


def _spread(values: list[float]) -> float | None:
    """(max - min) / median of the rounds' weighted totals: the run's own noise."""
    middle = statistics.median(values) if values else 0
    return round((max(values) - min(values)) / middle, 3) if middle else None


def summarise(workloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The three questions, per workload and overall."""
    per: dict[str, Any] = {}
    for name, result in workloads.items():
        rows = {r["set"]: r for r in result["table"]}
        hand = rows[HAND]["weighted_ms"]
        ours = {k: rows[k]["weighted_ms"] for k in (LITERAL, PGSS) if k in rows}
        gap = None
        if len(ours) == 2:
            gap = round(ours[PGSS] / ours[LITERAL] - 1, 3)
        per[name] = {
            "prodready_le_hand": {k: v <= hand for k, v in ours.items()},
            "ratio_to_hand": {k: round(v / hand, 3) for k, v in ours.items()},
            "round_spread": {r["set"]: r["round_spread"] for r in result["table"]},
            "slower_than_none": sorted(
                {f"{f['set']}: {f['statement']}" for f in result["flags"] if f["reference"] == NONE}
            ),
            "prodready_slower_than_hand": sorted(
                {f"{f['set']}: {f['statement']}" for f in result["flags"] if f["reference"] == HAND}
            ),
            "pgss_vs_literal": gap,
            "literal_pgss_within_20pct": None if gap is None else abs(gap) <= SAME_FEED_TOLERANCE,
        }
    return {
        "per_workload": per,
        "prodready_le_hand_everywhere": all(
            p["prodready_le_hand"] and all(p["prodready_le_hand"].values()) for p in per.values()
        ),
        "any_statement_slower_than_none": any(p["slower_than_none"] for p in per.values()),
        "literal_pgss_within_20pct_everywhere": all(
            p["literal_pgss_within_20pct"] for p in per.values()
        ),
    }


# -- rendering -----------------------------------------------------------------------------------


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Index advisor vs hand-written sets on three web-app workloads (scale"
        f" {result['scale']:g})",
        "",
        f"PostgreSQL {result.get('server_version')}, {result['machine']['cores']} cores, one"
        " throwaway cluster per workload (autovacuum off, jit off, shared_buffers 1GB,"
        " VACUUM ANALYZE after the load). pg_stat_statements feed: a replay of"
        f" {result['replay_minutes']:g} minute(s) of traffic (calls = weights), server-side"
        " parameters; literal feed: a SQL file with"
        f" {result['literal_samples']} literal samples per statement, weight split. Timing:"
        f" {result['bindings']} bindings per statement drawn like traffic"
        f" ({100 * result['traffic_share']:.0f} % weighted by the rows a value owns, the rest"
        " uniform), each call warm, client-side (execute + fetch), writes rolled back;"
        f" {result['passes']} rounds, each building every set in turn (order reversed every"
        " other round) for a warm-up pass and a timed pass; per binding the median over the"
        " rounds, per statement the mean over its bindings (so a heavy tenant's slow calls"
        " count as often as they come; the last column uses each statement's median binding"
        " instead, for contrast)."
        " Weighted ms = sum of weight x statement ms (database ms per minute of traffic)."
        f" Slower = more than {result['slower']['ratio']}x and {result['slower']['ms']} ms"
        " more, on the statement's mean.",
        "",
        *_revision_lines(result.get("revision")),
        *_summary_lines(result.get("summary", {})),
    ]
    for name, workload in result["workloads"].items():
        lines += ["", *_workload_lines(name, workload)]
    return "\n".join(lines).rstrip() + "\n"


def _revision_lines(revision: dict[str, Any] | None) -> list[str]:
    if not revision:
        return []
    changed = ", ".join(revision["advisor_changes"]) or "none"
    return [f"Commit {revision['commit'][:10]}; advisor files changed on top of it: {changed}.", ""]


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    if not summary:
        return []
    lines = [
        "## Summary",
        "",
        "| workload | prodready <= hand (literal / pgss) | ratio to hand (literal / pgss)"
        " | statements slower than no index | prodready slower than hand | pgss vs literal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, per in summary["per_workload"].items():
        le, ratio = per["prodready_le_hand"], per["ratio_to_hand"]
        gap = per["pgss_vs_literal"]
        lines.append(
            f"| {name} | {_yes(le.get(LITERAL))} / {_yes(le.get(PGSS))} |"
            f" {_ratio(ratio.get(LITERAL))} / {_ratio(ratio.get(PGSS))} |"
            f" {', '.join(per['slower_than_none']) or 'none'} |"
            f" {', '.join(per['prodready_slower_than_hand']) or 'none'} |"
            f" {'-' if gap is None else f'{100 * gap:+.1f} %'} |"
        )
    lines += [
        "",
        f"- prodready <= hand set on every workload: "
        f"{_yes(summary['prodready_le_hand_everywhere'])}",
        f"- any statement slower than with no indexes: "
        f"{_yes(summary['any_statement_slower_than_none'])}",
        f"- literal vs pg_stat_statements weighted ms within 20 % everywhere: "
        f"{_yes(summary['literal_pgss_within_20pct_everywhere'])}",
        "",
        "Noise: the weighted total of a single round moves by the spread shown in each"
        " workload's table (max - min over the rounds, in % of their median); ratios to the"
        " hand set closer to 1 than that are a tie.",
    ]
    return lines


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _workload_lines(name: str, w: dict[str, Any]) -> list[str]:
    rows = ", ".join(f"{t} {n:,}" for t, n in w["rows"].items())
    lines = [
        f"## {name}: {w['description']}",
        "",
        f"Rows: {rows}. Load {w['load_s']} s; replay {w['replay']['calls']} calls in"
        f" {w['replay']['seconds']} s.",
        "",
        "| set | indexes | size MB | weighted ms | speedup vs none | ratio to hand"
        " | round spread | weighted ms, median binding |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in w["table"]:
        spread = row["round_spread"]
        lines.append(
            f"| {row['set']} | {row['indexes']} | {row['mb']:.1f} | {row['weighted_ms']:,.1f} |"
            f" {row['speedup_vs_none']:.2f}x | {row['ratio_to_hand']:.2f} |"
            f" {'-' if spread is None else f'{100 * spread:.0f} %'} |"
            f" {row['weighted_ms_median_bindings']:,.1f} |"
        )
    lines += ["", *_statement_lines(w), "", *_flag_lines(w), *_set_lines(w)]
    for feed, error in w.get("advisor_errors", {}).items():
        lines.append(f"- **the advisor failed on the {feed} feed**: `{error['error']}`")
    lines += [f"- note: {n}" for n in w.get("notes", [])]
    return lines


def _statement_lines(w: dict[str, Any]) -> list[str]:
    sets = list(w["sets"])
    header = ["statement", "weight", *[f"{s} ms" for s in sets]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    flagged = {(f["set"], f["statement"]) for f in w["flags"] if f["reference"] == NONE}
    for name, info in w["statements"].items():
        cells = [name, f"{info['weight']:g}"]
        for s in sets:
            ms = w["sets"][s]["statements"][name]["ms"]
            cells.append(f"{ms:.2f}" + (" (slower)" if (s, name) in flagged else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _flag_lines(w: dict[str, Any]) -> list[str]:
    if not w["flags"]:
        return ["No statement is slower than with no indexes, nor under prodready than under"
                " the hand set.", ""]  # fmt: skip
    lines = ["Slower statements (mean over bindings; the three bindings that lost most):", ""]
    for f in w["flags"]:
        lines.append(
            f"- **{f['set']}** vs {f['reference']}: `{f['statement']}` (weight {f['weight']:g})"
            f" {f['ms']:.2f} ms vs {f['reference_ms']:.2f} ms ({f['ratio']}x)"
        )
        for b in f["worst_bindings"]:
            lines.append(
                f"  - {b['binding']}: {b['ms']:.2f} vs {b['reference_ms']:.2f} ms;"
                f" `{b['plan']}` vs `{b['reference_plan']}`"
            )
    return [*lines, ""]


def _set_lines(w: dict[str, Any]) -> list[str]:
    lines = []
    for name, entry in w["sets"].items():
        if name == NONE:
            continue
        sizes = {i["definition"]: i["bytes"] for i in entry["built"]["indexes"]}
        extra = entry["built"]["extensions_created"]
        head = f"**{name}** ({entry['bytes'] / 2**20:.1f} MB"
        head += f"; created extension {', '.join(extra)} for it" if extra else ""
        advice = entry.get("advisor")
        if advice:
            head += (
                f"; advisor {advice['wall_s']} s wall (bind {advice['bind_s']} s, engine"
                f" {advice['engine_s']} s, {advice['whatif_calls']} planner calls),"
                f" {advice['statements']} statements in, {len(advice['skipped'])} skipped"
            )
        lines.append(head + "):")
        for definition in entry["definitions"]:
            failed = entry["built"]["failed"].get(definition)
            size = f"{sizes[definition] / 2**20:.1f} MB" if definition in sizes else "not built"
            lines.append(f"- `{definition}` ({failed or size})")
        if not entry["definitions"]:
            lines.append("- (none)")
        for skipped in advice["skipped"] if advice else []:
            lines.append(f"- skipped: `{_clip(skipped['query'], 120)}`: {skipped['reason']}")
        for note in advice["notes"] if advice else []:
            lines.append(f"- advisor note: {_clip(note, 240)}")
        lines.append("")
    return lines


# -- plumbing ------------------------------------------------------------------------------------

_NUMBER_LIST = re.compile(r"\[\s+([-0-9.e,\s]+?)\s+\]")


def dumps(result: dict[str, Any]) -> str:
    """JSON with lists of numbers on one line each: per-binding timings stay reviewable."""
    text = json.dumps(result, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def _row_counts(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT relname, reltuples::bigint FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname"
    ).fetchall()
    return {str(name): int(n) for name, n in rows}


def _server_version(dsn: str) -> str | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return None if row is None else str(row[0])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--passes", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--bindings", type=int, default=20, help="bindings per statement")
    parser.add_argument("--replay", type=float, default=1.0, help="minutes of traffic replayed")
    parser.add_argument("--no-advisor", action="store_true")
    args = parser.parse_args(argv)
    return Config(
        workloads=args.workload or list(WORKLOADS),
        scale=args.scale,
        passes=args.passes,
        bindings=args.bindings,
        replay=args.replay,
        advisor=not args.no_advisor,
    )


if __name__ == "__main__":
    sys.exit(main())
