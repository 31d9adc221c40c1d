"""The marketplace API's queries, as data, and a bounded deterministic run of them.

`WORKLOAD` lists what the app sends: each ApiQuery has a name, its SQL with psycopg
named placeholders, a weight (calls per minute in production) and a parameter generator
that draws realistic values from a `Samples` of the data. Queries for the `anon` and
`authenticated` roles run the way PostgREST runs them: as `authenticator`, inside a
transaction that switches role and sets the JWT's `sub` claim, so RLS policies execute.
The advisor and verify replay the same list (or the SQL file `write_workload_sql` writes).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import ClientCursor, sql
from psycopg.adapt import AdaptersMap
from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper
from psycopg.types.uuid import UUIDDumper

SERVICE = "service"  # the backend's own connection (table owner: RLS does not apply)
ANON = "anon"
AUTHENTICATED = "authenticated"

DEFAULT_CALLS = 2000
DEFAULT_SEED = 7
SAMPLE_SIZE = 2000

Params = dict[str, Any]


@dataclass(frozen=True)
class Samples:
    """Parameter pools drawn once from the data, weighted the way traffic is.

    Buyers come from orders (so heavy buyers are drawn often), products from order items
    (popular products), recipients from messages (busy inboxes), and so on.
    """

    buyers: list[UUID]
    orders: list[tuple[int, UUID]]  # (order id, its buyer)
    open_orders: list[tuple[int, str, UUID]]  # (order id, status, the seller's user id)
    sellers: list[tuple[int, UUID]]  # (seller id, its user id)
    products: list[int]
    categories: list[int]
    users: list[UUID]
    favoriters: list[UUID]
    recipients: list[UUID]
    conversations: list[tuple[UUID, UUID, int]]  # (buyer, seller's user, product)
    words: list[str]

    @classmethod
    def load(cls, conn: psycopg.Connection, size: int = SAMPLE_SIZE) -> Samples:
        """Sample the pools with deterministic filters (ids modulo a step, REPEATABLE)."""

        def column(query: str, **params: Any) -> list[Any]:
            return [row[0] for row in _rows(conn, query, params)]

        def tuples(query: str, **params: Any) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in _rows(conn, query, params)]

        step = {t: _step(conn, t, size) for t in ("orders", "order_items", "products", "messages")}
        return cls(
            buyers=column(
                "SELECT buyer_id FROM public.orders WHERE id %% %(k)s = 0 ORDER BY id",
                k=step["orders"],
            ),
            orders=tuples(
                "SELECT id, buyer_id FROM public.orders WHERE (id + 1) %% %(k)s = 0 ORDER BY id",
                k=step["orders"],
            ),
            open_orders=tuples(
                "SELECT o.id, o.status::text, s.user_id FROM public.orders o"
                " JOIN public.sellers s ON s.id = o.seller_id"
                " WHERE o.status IN ('pending', 'paid', 'shipped') ORDER BY o.id LIMIT %(n)s",
                n=size,
            ),
            sellers=tuples(
                "SELECT s.id, s.user_id FROM public.orders o"
                " JOIN public.sellers s ON s.id = o.seller_id"
                " WHERE (o.id + 2) %% %(k)s = 0 ORDER BY o.id",
                k=step["orders"],
            ),
            products=column(
                "SELECT product_id FROM public.order_items WHERE id %% %(k)s = 0 ORDER BY id",
                k=step["order_items"],
            ),
            categories=column(
                "SELECT category_id FROM public.products WHERE id %% %(k)s = 0 ORDER BY id",
                k=step["products"],
            ),
            users=column(
                "SELECT id FROM public.users TABLESAMPLE BERNOULLI (10) REPEATABLE (7)"
                " WHERE deleted_at IS NULL ORDER BY id LIMIT %(n)s",
                n=size,
            ),
            favoriters=column(
                "SELECT user_id FROM public.favorites TABLESAMPLE BERNOULLI (10) REPEATABLE (7)"
                " ORDER BY user_id, product_id LIMIT %(n)s",
                n=size,
            ),
            recipients=column(
                "SELECT recipient_id FROM public.messages WHERE id %% %(k)s = 0 ORDER BY id",
                k=step["messages"],
            ),
            conversations=tuples(
                "SELECT o.buyer_id, s.user_id, i.product_id FROM public.orders o"
                " JOIN public.sellers s ON s.id = o.seller_id"
                " JOIN public.order_items i ON i.order_id = o.id"
                " WHERE (o.id + 3) %% %(k)s = 0 AND i.id %% 2 = 0 ORDER BY i.id",
                k=step["orders"],
            ),
            words=column(
                "SELECT DISTINCT lower(w) FROM public.products p,"
                " regexp_split_to_table(p.name, '[^[:alpha:]]+') AS w"
                " WHERE p.id %% %(k)s = 0 AND length(w) >= 4 ORDER BY 1",
                k=step["products"],
            ),
        )


ParamFn = Callable[[random.Random, Samples], Params]


@dataclass(frozen=True)
class ApiQuery:
    """One query the API sends; `params` must give `uid` (the JWT sub) for authenticated."""

    name: str
    sql: str
    weight: int
    params: ParamFn
    role: str = SERVICE
    description: str = ""


# -- parameter generators -------------------------------------------------------------------


def _category(rng: random.Random, s: Samples) -> Params:
    return {"category_id": rng.choice(s.categories)}


def _product(rng: random.Random, s: Samples) -> Params:
    return {"product_id": rng.choice(s.products)}


def _search_pattern(rng: random.Random, s: Samples) -> Params:
    return {"pattern": f"%{rng.choice(s.words)}%"}


def _search_terms(rng: random.Random, s: Samples) -> Params:
    words = rng.sample(s.words, 2) if rng.random() < 0.3 else [rng.choice(s.words)]
    return {"terms": " ".join(words)}


def _buyer_orders(rng: random.Random, s: Samples) -> Params:
    tab = rng.random()
    if tab < 0.6:
        statuses = ["pending", "paid", "shipped"]  # the "open orders" tab
    elif tab < 0.9:
        statuses = ["delivered"]
    else:
        statuses = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
    return {"uid": rng.choice(s.buyers), "statuses": statuses}


def _order_detail(rng: random.Random, s: Samples) -> Params:
    order_id, buyer = rng.choice(s.orders)
    return {"uid": buyer, "order_id": order_id}


def _seller(rng: random.Random, s: Samples) -> Params:
    seller_id, user_id = rng.choice(s.sellers)
    return {"uid": user_id, "seller_id": seller_id}


def _recipient(rng: random.Random, s: Samples) -> Params:
    return {"uid": rng.choice(s.recipients)}


def _favoriter(rng: random.Random, s: Samples) -> Params:
    return {"uid": rng.choice(s.favoriters)}


def _user(rng: random.Random, s: Samples) -> Params:
    return {"uid": rng.choice(s.users)}


_NEXT_STATUS = {"pending": "paid", "paid": "shipped", "shipped": "delivered"}


def _advance_order(rng: random.Random, s: Samples) -> Params:
    order_id, status, seller_user = rng.choice(s.open_orders)
    return {
        "uid": seller_user,
        "order_id": order_id,
        "current": status,
        "status": _NEXT_STATUS[status],
    }


_MESSAGES = (
    "Hi! Is this still available?",
    "Could you combine shipping with my other order?",
    "Thank you, it arrived safely.",
    "Is the colour closer to the first or the second photo?",
)


def _new_message(rng: random.Random, s: Samples) -> Params:
    buyer, seller_user, product_id = rng.choice(s.conversations)
    return {
        "uid": buyer,
        "recipient_id": seller_user,
        "product_id": product_id,
        "body": rng.choice(_MESSAGES),
    }


def _favorite(rng: random.Random, s: Samples) -> Params:
    return {"uid": rng.choice(s.users), "product_id": rng.choice(s.products)}


def _nothing(rng: random.Random, s: Samples) -> Params:
    return {}


# -- the workload ---------------------------------------------------------------------------

WORKLOAD: list[ApiQuery] = [
    ApiQuery(
        "category_tree",
        "SELECT id, parent_id, name, slug FROM public.categories"
        " ORDER BY parent_id NULLS FIRST, position",
        weight=50,
        params=_nothing,
        role=ANON,
        description="navigation menu",
    ),
    ApiQuery(
        "category_feed",
        "SELECT id, name, price, currency, view_count, created_at FROM public.products"
        " WHERE category_id = %(category_id)s AND status = 'active' AND deleted_at IS NULL"
        " ORDER BY created_at DESC LIMIT 20",
        weight=300,
        params=_category,
        role=ANON,
        description="newest products of a category",
    ),
    ApiQuery(
        "product_detail",
        "SELECT p.id, p.name, p.description, p.price, p.currency, p.stock, p.attributes,"
        " s.id AS seller_id, s.shop_name, s.slug AS shop_slug, s.verified"
        " FROM public.products p JOIN public.sellers s ON s.id = p.seller_id"
        " WHERE p.id = %(product_id)s",
        weight=400,
        params=_product,
        role=ANON,
        description="product page",
    ),
    ApiQuery(
        "product_reviews",
        "SELECT r.rating, r.title, r.body, r.created_at, u.display_name, u.avatar_url"
        " FROM public.reviews r JOIN public.users u ON u.id = r.user_id"
        " WHERE r.product_id = %(product_id)s ORDER BY r.created_at DESC LIMIT 10",
        weight=400,
        params=_product,
        role=ANON,
        description="reviews on the product page",
    ),
    ApiQuery(
        "record_product_view",
        "SELECT public.increment_product_views(%(product_id)s)",
        weight=400,
        params=_product,
        role=ANON,
        description="view counter RPC called by every product page",
    ),
    ApiQuery(
        "search_products",
        "SELECT id, name, price, currency FROM public.products"
        " WHERE name ILIKE %(pattern)s AND status = 'active' AND deleted_at IS NULL"
        " ORDER BY view_count DESC LIMIT 20",
        weight=60,
        params=_search_pattern,
        role=ANON,
        description="search box (substring match)",
    ),
    ApiQuery(
        "search_products_fulltext",
        "SELECT id, name, price, ts_rank(search, q) AS rank"
        " FROM public.products, websearch_to_tsquery('english', %(terms)s) AS q"
        " WHERE search @@ q AND status = 'active' AND deleted_at IS NULL"
        " ORDER BY rank DESC LIMIT 20",
        weight=40,
        params=_search_terms,
        role=ANON,
        description="search results page (full text)",
    ),
    ApiQuery(
        "top_rated_in_category",
        "SELECT p.id, p.name, round(avg(r.rating), 2) AS score, count(*) AS reviews"
        " FROM public.products p JOIN public.reviews r ON r.product_id = p.id"
        " WHERE p.category_id = %(category_id)s AND p.status = 'active'"
        " AND p.deleted_at IS NULL"
        " GROUP BY p.id, p.name HAVING count(*) >= 3"
        " ORDER BY score DESC, reviews DESC LIMIT 10",
        weight=30,
        params=_category,
        role=ANON,
        description="best rated products of a category",
    ),
    ApiQuery(
        "my_profile",
        "SELECT id, email, display_name, avatar_url, created_at FROM public.users"
        " WHERE id = %(uid)s",
        weight=100,
        params=_user,
        role=AUTHENTICATED,
        description="the signed-in user's profile",
    ),
    ApiQuery(
        "buyer_orders",
        "SELECT id, seller_id, status, total_amount, currency, created_at FROM public.orders"
        " WHERE buyer_id = %(uid)s AND status = ANY(%(statuses)s::public.order_status[])"
        " ORDER BY created_at DESC LIMIT 50",
        weight=150,
        params=_buyer_orders,
        role=AUTHENTICATED,
        description="a buyer's order history, by status tab",
    ),
    ApiQuery(
        "order_detail",
        "SELECT i.id, i.product_id, p.name, i.quantity, i.unit_price"
        " FROM public.order_items i JOIN public.products p ON p.id = i.product_id"
        " WHERE i.order_id = %(order_id)s",
        weight=80,
        params=_order_detail,
        role=AUTHENTICATED,
        description="the items of one order",
    ),
    ApiQuery(
        "seller_revenue_30d",
        "SELECT date_trunc('day', created_at) AS day, count(*) AS orders,"
        " sum(total_amount) AS revenue FROM public.orders"
        " WHERE seller_id = %(seller_id)s AND created_at >= now() - interval '30 days'"
        " AND status IN ('paid', 'shipped', 'delivered')"
        " GROUP BY 1 ORDER BY 1",
        weight=20,
        params=_seller,
        role=AUTHENTICATED,
        description="seller dashboard: revenue of the last 30 days",
    ),
    ApiQuery(
        "seller_top_products",
        "SELECT p.id, p.name, sum(i.quantity) AS units, sum(i.quantity * i.unit_price) AS revenue"
        " FROM public.order_items i JOIN public.products p ON p.id = i.product_id"
        " WHERE p.seller_id = %(seller_id)s"
        " GROUP BY p.id, p.name ORDER BY revenue DESC LIMIT 10",
        weight=10,
        params=_seller,
        role=SERVICE,
        description="seller dashboard: best sellers (computed by the backend)",
    ),
    ApiQuery(
        "advance_order_status",
        "UPDATE public.orders SET status = %(status)s::public.order_status"
        " WHERE id = %(order_id)s AND status = %(current)s::public.order_status",
        weight=30,
        params=_advance_order,
        role=AUTHENTICATED,
        description="a seller marks an order paid / shipped / delivered",
    ),
    ApiQuery(
        "unread_messages",
        "SELECT id, sender_id, product_id, body, created_at FROM public.messages"
        " WHERE recipient_id = %(uid)s AND read_at IS NULL"
        " ORDER BY created_at DESC LIMIT 20",
        weight=200,
        params=_recipient,
        role=AUTHENTICATED,
        description="inbox badge, polled by every open tab",
    ),
    ApiQuery(
        "mark_messages_read",
        "UPDATE public.messages SET read_at = now()"
        " WHERE recipient_id = %(uid)s AND read_at IS NULL",
        weight=15,
        params=_recipient,
        role=AUTHENTICATED,
        description="opening the inbox",
    ),
    ApiQuery(
        "send_message",
        "INSERT INTO public.messages (sender_id, recipient_id, product_id, body)"
        " VALUES (%(uid)s, %(recipient_id)s, %(product_id)s, %(body)s)"
        " RETURNING id, created_at",
        weight=20,
        params=_new_message,
        role=AUTHENTICATED,
        description="a buyer writes to a seller",
    ),
    ApiQuery(
        "user_favorites",
        "SELECT p.id, p.name, p.price, p.currency, f.created_at AS favorited_at"
        " FROM public.favorites f JOIN public.products p ON p.id = f.product_id"
        " WHERE f.user_id = %(uid)s ORDER BY f.created_at DESC LIMIT 50",
        weight=60,
        params=_favoriter,
        role=AUTHENTICATED,
        description="the favorites page",
    ),
    ApiQuery(
        "add_favorite",
        "INSERT INTO public.favorites (user_id, product_id) VALUES (%(uid)s, %(product_id)s)"
        " ON CONFLICT DO NOTHING",
        weight=10,
        params=_favorite,
        role=AUTHENTICATED,
        description="the heart button",
    ),
]


# -- running it -----------------------------------------------------------------------------


@dataclass
class WorkloadResult:
    """What a run executed: calls per query name, rows returned, wall time."""

    calls: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def planned_calls(
    samples: Samples, *, calls: int = DEFAULT_CALLS, seed: int = DEFAULT_SEED
) -> Iterator[tuple[ApiQuery, Params]]:
    """The deterministic sequence of (query, parameters) a run executes."""
    rng = random.Random(seed)
    weights = [q.weight for q in WORKLOAD]
    for _ in range(calls):
        query = rng.choices(WORKLOAD, weights)[0]
        yield query, query.params(rng, samples)


def run_workload(
    service_dsn: str,
    api_dsn: str,
    *,
    calls: int = DEFAULT_CALLS,
    seed: int = DEFAULT_SEED,
    on_progress: Callable[[int, int], None] | None = None,
) -> WorkloadResult:
    """Execute `calls` API queries: service ones on `service_dsn`, the rest as `api_dsn`.

    `api_dsn` logs in as `authenticator`; each call switches role for its transaction.
    Statistics are flushed before returning, so a snapshot taken next sees them.
    """
    result = WorkloadResult()
    started = time.perf_counter()
    with _connect(service_dsn) as service, _connect(api_dsn) as api:
        samples = Samples.load(service)
        for done, (query, params) in enumerate(planned_calls(samples, calls=calls, seed=seed), 1):
            rows = run_query(service, api, query, params)
            result.calls[query.name] += 1
            result.rows[query.name] += rows
            if on_progress is not None and (done % 100 == 0 or done == calls):
                on_progress(done, calls)
        for conn in (service, api):
            _flush_stats(conn)
    result.seconds = time.perf_counter() - started
    return result


def run_query(
    service: psycopg.Connection, api: psycopg.Connection, query: ApiQuery, params: Params
) -> int:
    """Execute one call on the connection its role uses; returns the rows it returned or touched."""
    if query.role == SERVICE:
        return _run(service, query, params)
    return _run_as(api, query, params)


def write_workload_sql(
    conn: psycopg.Connection, path: Path, *, seed: int = DEFAULT_SEED, per_query: int = 1
) -> Path:
    """Write the workload as SQL with literal parameters, `-- weight: N` before each statement.

    With `per_query` > 1 each query appears that many times with different parameters,
    its weight split between them so the file's total weight stays the production mix.
    """
    samples = Samples.load(conn)
    rng = random.Random(seed)
    cursor = ClientCursor(conn)
    _consistent_ints(cursor.adapters)
    cursor.adapters.register_dumper(UUID, _DashedUUIDDumper)
    lines = [
        "-- The prodready demo marketplace's API workload, with sample parameters.",
        "-- Each statement's weight is its calls per minute in production; its role says who",
        "-- runs it (RLS applies to anon and authenticated; `-- set:` gives the JWT's sub claim,",
        "-- which auth.uid() reads). Statements without a role are the backend's own.",
        "",
    ]
    for query in WORKLOAD:
        for _ in range(per_query):
            params = query.params(rng, samples)
            weight = max(1, round(query.weight / per_query))
            statement = cursor.mogrify(query.sql, params)
            lines.append(f"-- name: {query.name}")
            if query.role != SERVICE:  # the backend's own login is not a database role
                lines.append(f"-- role: {query.role}")
                if params.get("uid") is not None:  # auth.uid() reads the JWT's sub claim
                    lines.append(f"-- set: request.jwt.claim.sub = {params['uid']}")
            lines += [f"-- weight: {weight}", f"{statement};", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def reset_statement_stats(conn: psycopg.Connection) -> None:
    """Forget this database's pg_stat_statements entries (other databases keep theirs)."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    if row is None:
        raise RuntimeError("pg_stat_statements is not installed in this database")
    reset = sql.SQL(
        "SELECT {}.pg_stat_statements_reset(0, d.oid, 0)"
        " FROM pg_database d WHERE d.datname = current_database()"
    ).format(sql.Identifier(row[0]))
    conn.execute(reset)


def _connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    _consistent_ints(conn.adapters)
    return conn


def _consistent_ints(adapters: AdaptersMap) -> None:
    """Send every int as bigint, as an app's driver does.

    psycopg picks int2/int4/int8 by value, and pg_stat_statements keys a statement by its
    parameter types: one API query would show up as several statements.
    """
    adapters.register_dumper(int, Int8Dumper)
    adapters.register_dumper(int, Int8BinaryDumper)


class _DashedUUIDDumper(UUIDDumper):
    """uuid literals in their usual 8-4-4-4-12 form, for people reading the SQL file."""

    def dump(self, obj: UUID) -> bytes:
        return str(obj).encode()


def _run(conn: psycopg.Connection, query: ApiQuery, params: Params) -> int:
    with conn.cursor() as cur:
        cur.execute(query.sql, params)
        return len(cur.fetchall()) if cur.description else cur.rowcount


def _run_as(conn: psycopg.Connection, query: ApiQuery, params: Params) -> int:
    """Run like PostgREST: role and JWT claim are transaction-local settings."""
    uid = params.get("uid")
    if query.role == AUTHENTICATED and uid is None:
        raise ValueError(f"{query.name}: authenticated queries need a uid parameter")
    with conn.transaction():
        conn.execute(
            "SELECT set_config('role', %s, true), set_config('request.jwt.claim.sub', %s, true)",
            (query.role, "" if uid is None else str(uid)),
        )
        return _run(conn, query, params)


def _flush_stats(conn: psycopg.Connection) -> None:
    """PostgreSQL 15+ batches statistics per backend; flush before the snapshot reads them."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def _rows(conn: psycopg.Connection, query: str, params: Params) -> list[Any]:
    # marked like prodready's own catalog queries, so the audit leaves them out
    return conn.execute("/* prodready */ " + query, params).fetchall()


def _step(conn: psycopg.Connection, table: str, size: int) -> int:
    """Every k-th id gives about `size` rows (ids are dense in the generated data)."""
    query = sql.SQL("/* prodready */ SELECT max(id) FROM {}").format(
        sql.Identifier("public", table)
    )
    row = conn.execute(query).fetchone()
    highest = int(row[0]) if row and row[0] is not None else 0
    return max(1, highest // size)
