"""What-if costing: EXPLAIN a statement as if a set of indexes existed.

With HypoPG, hypothetical indexes live in this session only (hypopg_create_index); with
`real` mode (databases prodready owns: demo, benchmarks) real indexes are built inside a
transaction that is always rolled back; `none` only plans statements as they are today.
Plans are cached on (statement, the candidates on the statement's tables), so re-costing
a workload after a change on one table only re-plans the statements that read it. Every
EXPLAIN counts as one planner call. A plan whose ORDER BY ... LIMIT relies on a new index
that filters gets a pessimistic bound (`PlanCost.worst`): the planner assumes matching
rows come early in the index order, and a skewed value makes it read the whole index.

Each statement is planned as the role that runs it (`SET ROLE`), so row-level security
policies shape its plan as they do in production: under RLS, a qual whose operator is not
leakproof (ILIKE, @@, ...) cannot be an index condition. Hypothetical indexes belong to the
backend, not the role, so they are seen under any role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from prodready.advisor.analysis import TableName
from prodready.advisor.candidates import Candidate
from prodready.advisor.walks import Walk, WalkFraction, walk_order

Mode = Literal["hypopg", "real", "none"]  # none: only today's plans (no HypoPG)
TIMEOUT_MS = 10_000
MAX_LIVE_HYPOTHETICAL = 200  # HypoPG keeps them in backend memory and a small OID pool
STREAMING_AGGREGATES = ("Sorted", "Mixed")  # "Plain" and "Hashed" read all their input
BLOCKING = frozenset({"Sort", "Hash", "Materialize", "SetOp", "Recursive Union", "BitmapAnd"})
_HYPO_NAME = re.compile(r"^<(\d+)>")
_PARAM = re.compile(r"\$(\d+)")


# share of a table's rows a plan node's Filter keeps, when statistics can tell (else None)
FilterShare = Callable[[TableName, str], float | None]


class WhatIfError(Exception):
    """A statement could not be explained (syntax, missing table, timeout, ...)."""


@dataclass(frozen=True)
class PlannedStatement:
    """A workload statement as the what-if session plans it."""

    id: int
    sql: str
    tables: frozenset[TableName]
    generic: bool = False
    param_types: tuple[str, ...] = ()
    opaque: bool = False  # a view or unknown relation: every candidate may matter
    writes: bool = False
    role: str | None = None  # planned after SET ROLE to it; None: as the advisor's login


@dataclass(frozen=True)
class PlanCost:
    """The planner's estimate, a pessimistic bound, and the indexes the plan uses."""

    cost: float
    worst: float  # as `cost`, unless an ORDER BY ... LIMIT relies on a new index's luck
    used: frozenset[Candidate] = frozenset()
    used_existing: frozenset[tuple[str, str]] = frozenset()  # (schema, index name)
    rows_written: float = 0.0
    risk: str | None = None


@dataclass
class WhatIf:
    """One advisor session on `conn`: hypothetical (or rolled-back real) indexes + a plan cache."""

    conn: psycopg.Connection
    mode: Mode = "hypopg"
    reltuples: dict[TableName, float] = field(default_factory=dict)
    timeout_ms: int = TIMEOUT_MS
    hypopg_schema: str = "public"  # where the extension lives (Supabase: "extensions")
    filter_share: FilterShare | None = None
    walk_fraction: WalkFraction | None = None  # measured walks (a table sample), if allowed
    planner_calls: int = 0
    cache_hits: int = 0
    broken: dict[Candidate, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cache: dict[tuple[int, str | None, frozenset[Candidate]], PlanCost] = {}
        self._live: dict[Candidate, int] = {}  # hypothetical index -> its OID
        self._names: dict[str, Candidate] = {}  # plan node "Index Name" -> candidate
        self._saved: dict[str, str] = {}
        self._counter = 0
        self._probed: dict[Candidate, bool] = {}
        self._rls: dict[tuple[str | None, TableName], bool] = {}
        self._login_role = "none"  # the session's `role` setting before any SET ROLE of ours

    # -- session --

    def open(self) -> WhatIf:
        """Set our planner settings (restored by close) and start from no hypothetical index."""
        row = self.conn.execute("SELECT current_setting('role')").fetchone()
        self._login_role = str(row[0]) if row else "none"
        for name, value in (
            ("statement_timeout", str(self.timeout_ms)),
            ("plan_cache_mode", "force_generic_plan"),  # only prepared statements use it
        ):
            row = self.conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            self._saved[name] = str(row[0]) if row else ""
            self._set(name, value)
        if self.mode == "hypopg":
            self._hypopg("hypopg_reset")
        return self

    def close(self) -> None:
        if self.mode == "hypopg" and not self.conn.closed:
            self._hypopg("hypopg_reset")
        self._live.clear()
        for name, value in self._saved.items():
            if not self.conn.closed:
                self._set(name, value)

    def __enter__(self) -> WhatIf:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _savepoint(self) -> AbstractContextManager[object]:
        """A savepoint when the session is inside a transaction (a borrowed HypoPG), so one
        failing statement does not abort it; nothing in autocommit, where none is needed."""
        if self.conn.info.transaction_status == TransactionStatus.IDLE:
            return nullcontext()
        return self.conn.transaction()

    def _hypopg(self, function: str, *args: object, columns: str = "*") -> tuple[Any, ...] | None:
        """Call a HypoPG function by its schema-qualified name; the first row."""
        query = sql.SQL("SELECT {} FROM {}({})").format(
            sql.SQL(columns),
            sql.Identifier(self.hypopg_schema, function),
            sql.SQL(", ").join(sql.Placeholder() for _ in args),
        )
        return self.conn.execute(query, args).fetchone()

    def _set(self, name: str, value: str) -> None:
        self.conn.execute(
            sql.SQL("SELECT set_config({}, {}, false)").format(
                sql.Literal(name), sql.Literal(value)
            )
        )

    def supports(self, candidate: Candidate) -> bool:
        """Whether this session can cost `candidate`: real mode builds anything; HypoPG is
        asked once per non-btree candidate (1.3 refuses GIN, a later version may not)."""
        if self.mode == "none" or candidate in self.broken:
            return False
        if self.mode == "real" or candidate.method == "btree":
            return True
        if candidate not in self._probed:
            self._create_hypothetical(candidate)
            oid = self._live.pop(candidate, None)
            if oid is not None:
                self._hypopg("hypopg_drop_index", oid)
            self._probed[candidate] = candidate not in self.broken
        return self._probed[candidate]

    # -- costing --

    def plan(self, statement: PlannedStatement, config: Iterable[Candidate]) -> PlanCost:
        """The plan cost of `statement` with `config` on top of the existing indexes."""
        return self.plans([statement], config)[statement.id]

    def plans(
        self, statements: list[PlannedStatement], config: Iterable[Candidate]
    ) -> dict[int, PlanCost]:
        """Costs of several statements under one configuration (errors raise WhatIfError)."""
        config = frozenset(c for c in config if c not in self.broken and self.supports(c))
        found: dict[int, PlanCost] = {}
        missing: list[tuple[PlannedStatement, frozenset[Candidate]]] = []
        for statement in statements:
            relevant = _relevant(statement, config)
            cached = self._cache.get(_key(statement, relevant))
            if cached is not None:
                self.cache_hits += 1
                found[statement.id] = cached
            else:
                missing.append((statement, relevant))
        if missing and self.mode == "hypopg":
            for statement, relevant in missing:
                found[statement.id] = self._hypothetical(statement, relevant)
        elif missing:
            found.update(self._real(missing))
        return found

    def _hypothetical(
        self, statement: PlannedStatement, relevant: frozenset[Candidate]
    ) -> PlanCost:
        self._sync(statement, relevant)
        live = frozenset(c for c in relevant if c in self._live)
        plan = self._explain(statement)
        cost = self._parse(plan, statement)
        self._cache[_key(statement, relevant)] = cost
        if live != relevant:  # some failed to build: the same answer without them
            self._cache[_key(statement, live)] = cost
        return cost

    def _sync(self, statement: PlannedStatement, relevant: frozenset[Candidate]) -> None:
        """Make the session's hypothetical indexes on the statement's tables exactly `relevant`."""
        for candidate in list(self._live):
            on_table = statement.opaque or candidate.table in statement.tables
            crowded = len(self._live) > MAX_LIVE_HYPOTHETICAL
            if candidate not in relevant and (on_table or crowded):
                oid = self._live.pop(candidate)
                self._hypopg("hypopg_drop_index", oid)
        for candidate in relevant:
            if candidate not in self._live and candidate not in self.broken:
                self._create_hypothetical(candidate)

    def _create_hypothetical(self, candidate: Candidate) -> None:
        ddl = candidate.definition(None).as_string(self.conn)
        try:
            with self._savepoint():
                row = self._hypopg("hypopg_create_index", ddl, columns="indexrelid, indexname")
        except psycopg.Error as exc:
            self.broken[candidate] = _first_line(exc)
            return
        if row is None:
            self.broken[candidate] = "HypoPG created nothing"
            return
        self._live[candidate] = int(row[0])
        self._names[str(row[1])] = candidate

    def _real(
        self, missing: list[tuple[PlannedStatement, frozenset[Candidate]]]
    ) -> dict[int, PlanCost]:
        """Build the union of the relevant candidates for real, EXPLAIN, roll everything back."""
        found: dict[int, PlanCost] = {}
        # statements wanting different subsets of one table's candidates need separate builds
        groups: dict[frozenset[Candidate], list[PlannedStatement]] = {}
        for statement, relevant in missing:
            groups.setdefault(relevant, []).append(statement)
        for relevant, statements in groups.items():
            with self.conn.transaction(force_rollback=True):
                built = self._build_real(relevant)
                for statement in statements:
                    with self.conn.transaction():
                        plan = self._explain(statement, nested=True)
                    cost = self._parse(plan, statement)
                    self._cache[_key(statement, relevant)] = cost
                    self._cache[_key(statement, built)] = cost
                    found[statement.id] = cost
        return found

    def _build_real(self, relevant: frozenset[Candidate]) -> frozenset[Candidate]:
        built = set()
        for candidate in sorted(relevant, key=lambda c: c.label()):
            self._counter += 1
            name = f"prodready_whatif_{self._counter}"
            try:
                with self.conn.transaction():
                    self.conn.execute(candidate.definition(name))
            except psycopg.Error as exc:
                self.broken[candidate] = _first_line(exc)
                continue
            self._names[name] = candidate
            built.add(candidate)
        return frozenset(built)

    def _parse(self, plan: dict[str, Any], statement: PlannedStatement) -> PlanCost:
        return _parse(
            plan,
            self._names,
            self.reltuples,
            statement.tables,
            self.filter_share,
            self.walk_fraction,
        )

    def _explain(self, statement: PlannedStatement, nested: bool = False) -> dict[str, Any]:
        self.planner_calls += 1
        try:
            if statement.writes and not nested:
                # EXPLAIN never executes, but keep DML inside a transaction that is undone
                with self.conn.transaction(force_rollback=True), self._acting_as(statement.role):
                    return self._explain_now(statement)
            with self._savepoint(), self._acting_as(statement.role):
                return self._explain_now(statement)
        except psycopg.errors.QueryCanceled:
            raise WhatIfError(
                f"EXPLAIN timed out after {self.timeout_ms / 1000:g} s (statement_timeout)"
            ) from None
        except psycopg.Error as exc:
            raise WhatIfError(_first_line(exc)) from None

    def _explain_now(self, statement: PlannedStatement) -> dict[str, Any]:
        if not statement.generic:
            row = self.conn.execute(
                sql.SQL("EXPLAIN (FORMAT JSON) {}").format(sql.SQL(statement.sql))
            ).fetchone()
            return _document(row)
        # a generic plan: PREPARE with the parameter types, EXPLAIN EXECUTE with NULLs
        # (values do not matter to a generic plan); prepared anew every time because a
        # cached plan would not see hypothetical indexes created since
        name = sql.Identifier(f"prodready_whatif_{statement.id}")
        types: sql.Composable = sql.SQL("")
        if statement.param_types:
            types = sql.SQL("({})").format(
                sql.SQL(", ").join(sql.SQL(t) for t in statement.param_types)
            )
        count = max(len(statement.param_types), _param_count(statement.sql))
        nulls = (
            sql.SQL("({})").format(sql.SQL(", ".join(["NULL"] * count))) if count else sql.SQL("")
        )
        self.conn.execute(sql.SQL("PREPARE {}{} AS {}").format(name, types, sql.SQL(statement.sql)))
        try:
            # a savepoint: when EXPLAIN fails inside the DML transaction, DEALLOCATE must not
            # meet an aborted transaction (prepared statements outlive a rollback)
            with self.conn.transaction():
                row = self.conn.execute(
                    sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE {}{}").format(name, nulls)
                ).fetchone()
        finally:
            # a failed EXPLAIN EXECUTE can leave the statement gone; deallocating a missing
            # one would raise over the real error (and abort an enclosing transaction)
            left = self.conn.execute(
                "SELECT 1 FROM pg_prepared_statements WHERE name = %s",
                (f"prodready_whatif_{statement.id}",),
            ).fetchone()
            if left:
                self.conn.execute(sql.SQL("DEALLOCATE {}").format(name))
        return _document(row)

    # -- roles --

    @contextmanager
    def _acting_as(self, role: str | None) -> Iterator[None]:
        """Run the block as `role` (its RLS policies apply), then return to the login's role.

        When the block fails inside a transaction, that transaction's rollback undoes the
        SET ROLE too (SET is transactional); a RESET there would meet an aborted transaction.
        """
        if role is None:
            yield
            return
        self.conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        try:
            yield
        finally:
            if not self.conn.closed and self.conn.info.transaction_status != (
                TransactionStatus.INERROR
            ):
                self._restore_role()

    def _restore_role(self) -> None:
        if self._login_role == "none":
            self.conn.execute("RESET ROLE")
        else:
            self.conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self._login_role)))

    def rls_applies(self, role: str | None, table: TableName) -> bool:
        """Whether row-level security filters `table` for `role` (None: the login)."""
        key = (role, table)
        if key not in self._rls:
            name = sql.Identifier(table.schema, table.name).as_string(self.conn)
            try:
                with self._acting_as(role):
                    row = self.conn.execute("SELECT row_security_active(%s::regclass)", (name,))
                    found = row.fetchone()
            except psycopg.Error:
                found = None  # a table this role cannot name: nothing to say about RLS
            self._rls[key] = bool(found and found[0])
        return self._rls[key]


def role_access(conn: psycopg.Connection, roles: Iterable[str]) -> dict[str, str | None]:
    """For each role: None when this session may SET ROLE to it, else why not.

    SET ROLE needs the session user to be a superuser or a member of the role.
    """
    names = sorted(set(roles))
    if not names:
        return {}
    rows = conn.execute(
        "SELECT /* prodready */ w.name, r.oid IS NOT NULL,"
        " r.oid IS NOT NULL AND pg_has_role(session_user, r.oid, 'MEMBER'), session_user::text"
        " FROM unnest(%s::text[]) AS w(name) LEFT JOIN pg_roles r ON r.rolname = w.name",
        (names,),
    ).fetchall()
    found: dict[str, str | None] = {}
    for name, exists, member, login in rows:
        if not exists:
            found[str(name)] = "the role does not exist in this cluster"
        elif not member:
            found[str(name)] = f"the login {login} is not a member of it"
        else:
            found[str(name)] = None
    return found


def _key(
    statement: PlannedStatement, relevant: frozenset[Candidate]
) -> tuple[int, str | None, frozenset[Candidate]]:
    """A plan depends on the statement, the role it runs as and the candidates it may use."""
    return (statement.id, statement.role, relevant)


def _relevant(statement: PlannedStatement, config: frozenset[Candidate]) -> frozenset[Candidate]:
    if statement.opaque:
        return config
    return frozenset(c for c in config if c.table in statement.tables)


def _document(row: tuple[Any, ...] | None) -> dict[str, Any]:
    if row is None:
        raise WhatIfError("EXPLAIN returned nothing")
    document = row[0]
    if isinstance(document, str):  # without the json loader
        import json

        document = json.loads(document)
    return dict(document[0])


def _param_count(text: str) -> int:
    return max((int(n) for n in _PARAM.findall(text)), default=0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- reading a plan --


@dataclass
class _PlanWalk:
    names: dict[str, Candidate]
    reltuples: dict[str, float]  # relation name -> rows (for the statement's tables)
    schemas: dict[str, str]  # relation name -> schema
    filter_share: FilterShare | None = None
    walk_fraction: WalkFraction | None = None
    used: set[Candidate] = field(default_factory=set)
    existing: set[tuple[str, str]] = field(default_factory=set)
    written: float = 0.0
    extra: float = 0.0  # worst case minus estimate
    risk: str | None = None

    def visit(
        self, node: dict[str, Any], limit: dict[str, Any] | None, relation: str | None
    ) -> None:
        kind = node.get("Node Type", "")
        relation = node.get("Relation Name", relation)
        if kind == "ModifyTable":
            children = node.get("Plans") or []
            self.written += float(children[0].get("Plan Rows", 0)) if children else 0.0
        index = node.get("Index Name")
        if index is not None:
            self.index(node, str(index), limit, relation)
        if kind == "Limit":
            limit = node
        for position, child in enumerate(node.get("Plans") or []):
            self.visit(child, _child_limit(node, child, position, limit), relation)

    def index(
        self, node: dict[str, Any], name: str, limit: dict[str, Any] | None, relation: str | None
    ) -> None:
        candidate = self.names.get(name)
        if candidate is None:
            if relation is not None and not _HYPO_NAME.match(name):
                self.existing.add((self.schemas.get(relation, "public"), name))
            return
        self.used.add(candidate)
        if limit is None or "Filter" not in node or node["Node Type"] == "Bitmap Index Scan":
            return
        # ORDER BY ... LIMIT over an index scan that filters: the estimate assumes matching
        # rows are spread evenly along the index; if the rows the filter rejects all come
        # first, the scan reads them all before the rows it needs
        fraction = self.late_fraction(node, limit, candidate, relation)
        child = (limit.get("Plans") or [{}])[0]
        start = float(child.get("Startup Cost", 0.0))
        worst = start + (float(child.get("Total Cost", 0.0)) - start) * fraction
        extra = worst - float(limit.get("Total Cost", 0.0))
        if extra > self.extra:
            self.extra = extra
            self.risk = (
                f"ORDER BY ... LIMIT relies on {candidate.label()} and filters "
                f"({node['Filter']}): up to {worst:,.0f} cost units if matching rows come late"
            )

    def late_fraction(
        self,
        node: dict[str, Any],
        limit: dict[str, Any],
        candidate: Candidate,
        relation: str | None,
    ) -> float:
        """Share of the ordered scan read, at worst, before the LIMIT is satisfied.

        Measured on a sample of the table where the walk allows it. Otherwise: a filter
        keeping a share s of the N rows the index yields rejects (1 - s) N of them; if all
        of those come first, the scan reads (1 - s) N + k rows for k matches. With s
        unknown (a pattern, a parameter, a policy function), the whole scan.
        """
        measured = self.measured_fraction(node, limit, candidate, relation)
        if measured is not None:
            return measured
        share = None
        if relation is not None and self.filter_share is not None:
            table = TableName(self.schemas.get(relation, "public"), relation)
            share = self.filter_share(table, str(node["Filter"]))
        matches = float(node.get("Plan Rows", 0.0))
        if share is None and "Index Cond" not in node and relation is not None:
            # the planner's own share: the rows it expects out of every row the index holds
            indexed = self.reltuples.get(relation, 0.0) * candidate.selectivity
            share = min(1.0, matches / indexed) if indexed > 0 else None
        if share is None or share <= 0 or matches <= 0:
            return 1.0
        wanted = float(limit.get("Plan Rows", 0.0))
        return min(1.0, (1.0 - share) + wanted * share / matches)

    def measured_fraction(
        self,
        node: dict[str, Any],
        limit: dict[str, Any],
        candidate: Candidate,
        relation: str | None,
    ) -> float | None:
        if self.walk_fraction is None or relation is None or candidate.method != "btree":
            return None
        order = walk_order(
            [(k.expr if k.is_column else "", k.desc, k.nulls_first) for k in candidate.keys],
            backward=node.get("Scan Direction") == "Backward",
        )
        if order is None:
            return None
        bounds = [str(b) for b in (node.get("Index Cond"), candidate.predicate) if b]
        walk = Walk(
            table=TableName(self.schemas.get(relation, "public"), relation),
            alias=str(node.get("Alias", relation)),
            condition=" AND ".join(f"({b})" for b in bounds) or None,
            filter=str(node["Filter"]),
            order=order,
        )
        return self.walk_fraction(walk, float(limit.get("Plan Rows", 0.0)))


def _child_limit(
    node: dict[str, Any], child: dict[str, Any], position: int, limit: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The Limit still governing `child`: blocking nodes and subplans read all their input."""
    if limit is None or child.get("Parent Relationship") in ("InitPlan", "SubPlan"):
        return None
    kind = node.get("Node Type", "")
    if kind in BLOCKING:
        return None
    if kind == "Aggregate" and node.get("Strategy") not in STREAMING_AGGREGATES:
        return None
    if kind == "Hash Join" and position == 1:
        return None
    return limit


def _parse(
    document: dict[str, Any],
    names: dict[str, Candidate],
    reltuples: dict[TableName, float],
    tables: frozenset[TableName],
    filter_share: FilterShare | None = None,
    walk_fraction: WalkFraction | None = None,
) -> PlanCost:
    plan = document["Plan"]
    by_name = {t.name: reltuples.get(t, 0.0) for t in tables}
    schemas = {t.name: t.schema for t in tables}
    walk = _PlanWalk(names, by_name, schemas, filter_share, walk_fraction)
    walk.visit(plan, None, None)
    cost = float(plan["Total Cost"])
    return PlanCost(
        cost=cost,
        worst=cost + walk.extra,
        used=frozenset(walk.used),
        used_existing=frozenset(walk.existing),
        rows_written=walk.written,
        risk=walk.risk,
    )
