"""The advisor pipeline: workload statements in, proven index recommendations out.

read the catalog → analyse every statement (pglast) → cost each as it is today, as the role
that runs it → generate candidates → choose a set greedily with what-if costs (HypoPG, or
real indexes in a rolled-back transaction on databases prodready owns) → check that no
statement gets slower → describe each index with its DDL, size and before/after costs →
validate drops.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from importlib import resources

import psycopg
from pglast.parser import ParseError
from psycopg import sql
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.numeric import NumericLoader

from prodready.advisor.analysis import (
    JSON_OPS,
    AnalysisError,
    QueryAnalysis,
    SimpleCatalog,
    TableName,
    analyze,
    filter_constants,
)
from prodready.advisor.candidates import (
    Candidate,
    Generator,
    IndexKey,
    extended,
    narrower,
    ordered,
    page_orders,
    served_by,
    with_include,
)
from prodready.advisor.drops import advise_drops
from prodready.advisor.measure import Target, measure_index
from prodready.advisor.model import (
    AdvisorResult,
    BoundQuery,
    Confidence,
    IndexRecommendation,
    QueryEffect,
    Skipped,
)
from prodready.advisor.params import fix_normalised
from prodready.advisor.selection import (
    PRUNE_SHARE,
    Limits,
    Problem,
    Selection,
    Workload,
    select,
)
from prodready.advisor.sizes import (
    CLUSTERED,
    ColumnStats,
    KeyWidth,
    TableStats,
    btree_bytes,
    gin_bytes,
)
from prodready.advisor.walks import SAMPLE_ROWS, WalkSampler
from prodready.advisor.whatif import (
    Mode,
    PlanCost,
    PlannedStatement,
    WhatIf,
    WhatIfError,
    _first_line,
    role_access,
)
from prodready.db.checks.indexes import index_name
from prodready.db.collect import collect_from
from prodready.db.snapshot import Snapshot
from prodready.pg.connection import SessionLimits
from prodready.sqlgen import render

# an equality index a paged statement uses may take the page's ORDER BY keys when it grows at
# most this much, or to this share of the table's heap: the values the workload showed may be
# light, a heavy one sorts all its rows
ORDERED_GROWTH = 4.0
ORDERED_HEAP_SHARE = 0.5
MIN_RATE_WINDOW_S = 86_400.0  # younger statistics still show the initial load, not traffic
MIN_ABSOLUTE_SAVING = 100.0  # planner cost units x calls: below this nobody will notice
MIN_WORKLOAD_SHARE = 0.005  # an index saving under 0.5% of the workload is not worth its writes
INDEX_WRITE_COST = 1.0  # cost units to insert one entry into one index (descent + WAL)
DELETE_SHARE = 0.25  # deleted entries cost later, when vacuum removes them
# measured on the ingest benchmark: 50-row batches into events took 0.6 ms more with an index
# led by a random external id than with two led by the source id (hot pages)
SCATTERED_INSERT_COST = 4.0
SCATTERED_DISTINCT_SHARE = 0.1  # a leading key this distinct (share of rows) scatters inserts
GIN_MIN_ROWS = 10_000  # a GIN index on a smaller table rarely beats a scan
TRGM_REQUIREMENT = ("CREATE EXTENSION IF NOT EXISTS pg_trgm",)  # said in `requires`
GIN_EXPECTED_SAVING = 0.9  # what an unvalidated GIN suggestion must be able to save
OPERATOR_NAMES = {"~~": "LIKE", "~~*": "ILIKE", "@@": "text search (@@)"}
COLLECT_SETTINGS = (
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "max_parallel_workers_per_gather",
    "datestyle",
    "timezone",
)

Progress = Callable[[str], None]


def advise(
    conn: psycopg.Connection,
    bound: list[BoundQuery],
    *,
    skipped: list[Skipped] | tuple[Skipped, ...] = (),
    budget_bytes: int | None = None,
    max_indexes: int | None = None,
    max_index_width: int = 3,
    allow_real_indexes: bool = False,
    min_relative_saving: float = 0.05,
    min_absolute_saving: float = MIN_ABSOLUTE_SAVING,
    progress: Progress | None = None,
    snapshot: Snapshot | None = None,
    temporary_hypopg: bool = True,
    sample_walks: bool = True,
    measure: bool = False,
) -> AdvisorResult:
    """Recommend indexes (and drops) for the bound workload on the database behind `conn`.

    `conn` is an open autocommit session the advisor uses for HypoPG; its settings are
    restored afterwards. Each index must save `min_relative_saving` of the weighted cost of
    the statements it speeds up, and `min_absolute_saving` planner cost units x calls;
    without a budget, also 0.5% of the workload's cost. `allow_real_indexes` builds real
    indexes inside rolled-back transactions when HypoPG is missing (owned databases only).
    `snapshot`, when the caller collected one already (the audit), saves collecting again.
    `temporary_hypopg`: when HypoPG is available but not created, create it for this run only.
    `sample_walks`: measure ORDER BY ... LIMIT walks on table samples instead of assuming
    the worst (reads about 30,000 rows of each table such a walk runs on).
    `measure` (staging, owned databases; needs a writable session): build each recommended
    index in a transaction that is rolled back and keep it only when EXPLAIN ANALYZE of the
    statements it targets is faster with it.
    """
    started = time.monotonic()
    say = progress or (lambda message: None)
    result = AdvisorResult(statements=len(bound) + len(skipped), skipped=list(skipped))
    if not bound:
        result.notes.append("The workload is empty: there is nothing to advise on.")
        return _finish(result, started)
    say("reading the catalog")
    catalog = load_catalog(conn, bound, snapshot)
    with ExitStack() as borrowed:
        if catalog.hypopg is None and temporary_hypopg:
            # the whole advice then runs in one transaction that is rolled back at the end
            _borrow_hypopg(conn, catalog, borrowed, result)
        mode = _mode(catalog, allow_real_indexes, result)
        say("analysing the statements")
        statements = _analyse(bound, catalog, result, _plan_roles(conn, bound, result))
        limits = Limits(
            budget_bytes,
            max_indexes,
            min_relative_saving,
            min_absolute_saving,
            # with a budget the caller chose to spend that space: small wins fill it
            min_workload_share=MIN_WORKLOAD_SHARE if budget_bytes is None else 0.0,
            prune_share=PRUNE_SHARE if budget_bytes is None else 0.0,
            slim=budget_bytes is None,
        )
        sampler = WalkSampler(conn, catalog.reltuples()) if sample_walks else None
        session = WhatIf(
            conn,
            mode=mode or "none",
            reltuples=catalog.reltuples(),
            hypopg_schema=catalog.hypopg_schema,
            filter_share=_FilterShares(catalog.tables),
            walk_fraction=sampler,
        )
        with session:
            run = _Run(catalog, statements, session, limits, max_index_width, result, say)
            run.cost_today()
            if run.statements:
                run.recommend(validated=mode is not None)
                if measure:
                    run.measure()
        result.whatif_calls = session.planner_calls
        result.cache_hits = session.cache_hits
        if sampler is not None and sampler.samples:
            result.notes.append(
                f"Measured {sampler.samples} ORDER BY ... LIMIT walk(s) on table samples "
                f"(TABLESAMPLE SYSTEM, about {SAMPLE_ROWS:,} rows each) instead of assuming "
                "the matching rows come last; --no-sample-walks turns this off."
            )
    return _finish(result, started)


def _finish(result: AdvisorResult, started: float) -> AdvisorResult:
    result.elapsed_s = time.monotonic() - started
    return result


# -- the catalog: names, statistics, existing indexes --


@dataclass
class Catalog:
    """What the advisor reads from the database once, before any what-if."""

    snapshot: Snapshot
    names: SimpleCatalog
    tables: dict[TableName, TableStats]
    hypopg: str | None  # extension version, None when not installed here
    hypopg_schema: str
    trgm: bool
    workload_window_s: float | None  # pg_stat_statements' time frame, when known
    trgm_available: bool = True  # the server has pg_trgm's files (CREATE EXTENSION works)
    leakproof: dict[str, bool] = field(default_factory=dict)  # operator name -> leakproof

    def reltuples(self) -> dict[TableName, float]:
        return {t: s.rows for t, s in self.tables.items()}


def load_catalog(
    conn: psycopg.Connection, bound: list[BoundQuery], snapshot: Snapshot | None = None
) -> Catalog:
    """Snapshot (the caller's, or collected now), column statistics and the search path."""
    snap = snapshot or _snapshot(conn)
    path_row = conn.execute("SELECT current_schemas(true)").fetchone()
    search_path = tuple(path_row[0]) if path_row else ("public",)
    relations: dict[TableName, tuple[str, frozenset[str]]] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    for column in snap.columns:
        columns.setdefault((column.schema, column.table), []).append(column.name)
    for table in snap.tables:
        names = frozenset(columns.get(table.ident, []))
        relations[TableName(table.schema, table.name)] = (table.kind, names)
    for view in snap.views:
        relations[TableName(view.schema, view.name)] = ("v", frozenset())
    stats = _table_stats(conn, snap)
    hypopg = snap.extension_map.get("hypopg")
    return Catalog(
        snapshot=snap,
        names=SimpleCatalog(relations, search_path),
        tables=stats,
        hypopg=hypopg.version if hypopg else None,
        hypopg_schema=hypopg.schema if hypopg else "public",
        trgm="pg_trgm" in snap.extension_map,
        workload_window_s=_workload_window(conn, snap, bound),
        trgm_available=_extension_available(conn, "pg_trgm"),
        leakproof=_leakproof_operators(conn),
    )


def _extension_available(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT /* prodready */ count(*) FROM pg_available_extensions WHERE name = %s", (name,)
    ).fetchone()
    return bool(row and row[0])


def _leakproof_operators(conn: psycopg.Connection) -> dict[str, bool]:
    """Whether some implementation of each search operator is leakproof: under row-level
    security only leakproof operators may become index conditions."""
    rows = conn.execute(
        "SELECT /* prodready */ o.oprname::text, bool_or(p.proleakproof)"
        " FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode"
        " WHERE o.oprname = ANY(%s) GROUP BY 1",
        (sorted({"~~", "~~*", "@@", *JSON_OPS}),),
    ).fetchall()
    return {str(name): bool(leakproof) for name, leakproof in rows}


def _snapshot(conn: psycopg.Connection) -> Snapshot:
    """Collect on the caller's session, then give it back its settings and loaders."""
    saved = {}
    for name in COLLECT_SETTINGS:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        saved[name] = str(row[0]) if row else ""
    try:
        return collect_from(conn, limits=SessionLimits(statement_timeout_ms=60_000))
    finally:
        for name, value in saved.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        # the collector reads timestamps and numbers as text; restore psycopg's loaders
        conn.adapters.register_loader("timestamptz", TimestamptzLoader)
        conn.adapters.register_loader("numeric", NumericLoader)


def _table_stats(conn: psycopg.Connection, snap: Snapshot) -> dict[TableName, TableStats]:
    tables = [t for t in snap.tables if t.kind in ("r", "p", "m")]
    try:
        with conn.transaction():
            rows = conn.execute(
                _sql("core_column_stats"),
                {"schemas": [t.schema for t in tables], "tables": [t.name for t in tables]},
            ).fetchall()
    except psycopg.Error:
        rows = []  # sizes then ignore deduplication and no literal counts as rare
    pg_stats = {(r[0], r[1], r[2]): r for r in rows}
    found = {}
    for table in tables:
        columns = {}
        for column in snap.columns_by_table.get(table.ident, []):
            st = pg_stats.get((table.schema, table.name, column.name))
            columns[column.name] = ColumnStats(
                name=column.name,
                type=column.type,
                typlen=column.type_length,
                typalign=column.type_align,
                not_null=column.not_null,
                avg_width=st[4] if st else column.avg_width,
                null_frac=st[3] if st else column.null_frac,
                n_distinct=st[5] if st else None,
                correlation=st[6] if st else None,
                mcv=tuple(st[7] or ()) if st else (),
                mcf=tuple(st[8] or ()) if st else (),
            )
        name = TableName(table.schema, table.name)
        # a never-analysed table reports -1 rows: fall back on what the statistics saw
        rows_now = table.reltuples if table.reltuples >= 0 else float(table.n_live_tup or 0)
        indexes = len(snap.indexes_by_table.get(table.ident, []))
        keys = frozenset(
            column
            for constraint in snap.constraints_by_table.get(table.ident, [])
            if constraint.type in ("p", "u", "f")
            for column in constraint.columns
        )
        found[name] = TableStats(
            name, table.kind, rows_now, table.relpages, columns, indexes, identifiers=keys
        )
    return found


def _workload_window(
    conn: psycopg.Connection, snap: Snapshot, bound: list[BoundQuery]
) -> float | None:
    pgss = snap.extension_map.get("pg_stat_statements")
    if pgss is None or not any("pg_stat_statements" in b.query.source for b in bound):
        return None
    query = sql.SQL(_sql("core_workload_window")).format(pgss=sql.Identifier(pgss.schema))
    try:
        with conn.transaction():
            row = conn.execute(query).fetchone()
    except psycopg.Error:
        return None
    return float(row[0]) if row and row[0] is not None else None


def _borrow_hypopg(
    conn: psycopg.Connection, catalog: Catalog, undo: ExitStack, result: AdvisorResult
) -> None:
    """Create HypoPG inside a transaction `undo` rolls back, when the server has it and the
    role may; on success `catalog` points at it and the notes say so."""
    if not _extension_available(conn, "hypopg"):
        return
    undo.enter_context(conn.transaction(force_rollback=True))
    try:
        # the audit's session is read-only by default; this transaction writes nothing that
        # survives it (the extension's catalog rows are rolled back with it)
        conn.execute("SET TRANSACTION READ WRITE")
        with conn.transaction():
            conn.execute("CREATE EXTENSION hypopg")
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        result.notes.append(
            f"HypoPG is available on the server but could not be created for this run ({reason})."
        )
        undo.close()  # roll the transaction back now: the advice runs as without HypoPG
        return
    row = conn.execute(
        "SELECT /* prodready */ e.extversion, n.nspname FROM pg_extension e"
        " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'"
    ).fetchone()
    if row is None:
        return
    catalog.hypopg, catalog.hypopg_schema = str(row[0]), str(row[1])
    result.notes.append(
        "HypoPG was created for this run only, inside a transaction that was rolled back when "
        "the advice was done: nothing was installed in the database "
        "(--no-temporary-hypopg forbids this)."
    )


def _mode(catalog: Catalog, allow_real: bool, result: AdvisorResult) -> Mode | None:
    if catalog.hypopg is not None:
        return "hypopg"
    if allow_real:
        result.notes.append(
            "HypoPG is not installed: candidate indexes were built for real inside "
            "transactions that were rolled back (allowed on databases prodready owns)."
        )
        return "real"
    result.notes.append(
        "HypoPG is not installed in this database, so no recommendation could be costed: "
        "they are heuristic and labelled unvalidated. Install it (e.g. apt install "
        "postgresql-15-hypopg) and run CREATE EXTENSION hypopg to get proven ones."
    )
    return None


def _sql(name: str) -> str:
    return resources.files("prodready.advisor.sql").joinpath(f"{name}.sql").read_text()


# -- statements --


@dataclass
class _Statement:
    id: int
    bound: BoundQuery
    analysis: QueryAnalysis
    planned: PlannedStatement

    @property
    def weight(self) -> float:
        """Calls per statement; a statement planned for several values splits them."""
        return max(self.bound.query.calls, 0.0) * self.bound.share

    @property
    def text(self) -> str:
        """The statement as the workload has it, and the value it was planned with."""
        binding = self.bound.binding
        if binding is None:
            return self.bound.query.text
        if self.bound.method == "literal":  # one literal form of several: its own values
            return f"{self.bound.sql} [{binding}]"
        return f"{self.bound.query.text} [{binding}]"


def _plan_roles(
    conn: psycopg.Connection, bound: list[BoundQuery], result: AdvisorResult
) -> dict[str, str | None]:
    """The role each workload role is planned as: itself, or None (the advisor's login) when
    the login may not SET ROLE to it; one note says which roles and why."""
    wanted = {b.query.role for b in bound if b.query.role}
    row = conn.execute("SELECT current_user::text").fetchone()
    login = str(row[0]) if row else ""
    access = role_access(conn, wanted - {login})
    refused = {role: why for role, why in access.items() if why is not None}
    if refused:
        counts = Counter(b.query.role for b in bound if b.query.role in refused)
        parts = "; ".join(
            f"{role} ({counts[role]} statement(s)): {why}" for role, why in sorted(refused.items())
        )
        result.notes.append(
            f"planned as {login} instead of the role that runs them, so that role's "
            f"row-level security is not reflected in their plans: {parts}"
        )
    return {role: None if role == login or role in refused else role for role in wanted}


def _analyse(
    bound: list[BoundQuery],
    catalog: Catalog,
    result: AdvisorResult,
    roles: Mapping[str, str | None],
) -> list[_Statement]:
    statements = []
    for position, item in enumerate(bound):
        try:
            analysis = _analysis_of(item, catalog)
        except AnalysisError as exc:
            result.skipped.append(Skipped(item.query.text, str(exc)))
            continue
        planned = PlannedStatement(
            id=position,
            sql=item.sql,
            tables=analysis.tables,
            generic=item.method == "generic",
            param_types=item.param_types,
            opaque=analysis.opaque,
            writes=analysis.kind != "select",
            role=roles.get(item.query.role) if item.query.role else None,
        )
        statements.append(_Statement(position, item, analysis, planned))
    return statements


def _analysis_of(item: BoundQuery, catalog: Catalog) -> QueryAnalysis:
    """Literals filled in from statistics are not the application's constants: analyse the
    original text when it parses, so partial indexes only come from real literals."""
    if item.method in ("stats", "log") and item.query.has_params:
        try:
            original, _ = fix_normalised(item.query.text)
            return analyze(original, catalog.names)
        except (AnalysisError, ParseError, ValueError):
            return analyze(item.sql, catalog.names, trust_literals=False)
    return analyze(item.sql, catalog.names)


# -- one run of the advisor --


@dataclass
class _Run:
    catalog: Catalog
    statements: list[_Statement]
    whatif: WhatIf
    limits: Limits
    max_width: int
    result: AdvisorResult
    say: Progress
    base: dict[int, PlanCost] = field(default_factory=dict)
    chosen: list[Candidate] = field(default_factory=list)
    # each recommendation's candidate and the statements it targets, for `measure`
    added: list[tuple[IndexRecommendation, Candidate, list[_Statement]]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        self.names = _Names(self.catalog.snapshot)
        self._index_tables = {
            (i.schema, i.name): TableName(i.schema, i.table) for i in self.catalog.snapshot.indexes
        }

    # -- today's cost --

    def cost_today(self) -> None:
        """EXPLAIN every statement as it is today; those that fail are skipped with the reason."""
        kept = []
        for statement in self.statements:
            try:
                self.base[statement.id] = self.whatif.plan(statement.planned, ())
            except WhatIfError as exc:
                self.result.skipped.append(Skipped(statement.text, f"cannot be explained: {exc}"))
                continue
            kept.append(statement)
        self.statements = kept
        self.result.explained = len(kept)
        total = self.workload().total(self.base)
        self.result.workload_cost_before = total
        self.result.workload_cost_after = total

    def workload(self) -> Workload:
        return Workload(
            {s.id: s.weight for s in self.statements},
            {s.id: s.planned.tables for s in self.statements},
        )

    def costs(self) -> _CostFunction:
        return _CostFunction(self.whatif, [s.planned for s in self.statements], self.base)

    # -- recommendations --

    def recommend(self, validated: bool) -> None:
        self.say("generating candidates")
        generator = Generator(self.catalog.tables, self.max_width)
        for statement in self.statements:
            generator.add_statement(statement.id, statement.analysis)
        asked = {c: ids for c, ids in generator.found.items() if not self._already_served(c)}
        costable = [c for c in asked if validated and self.whatif.supports(c)]
        if costable:
            self.say(f"choosing among {len(costable)} candidates")
            attributes = generator.attributes(s.analysis for s in self.statements)
            selection = select(self._problem(costable, attributes))
            self.chosen = selection.chosen
            self._describe(selection)
        elif not validated:
            self._heuristic(asked)
        self._unvalidated_searches(asked)
        self.say("validating drops")
        advice = advise_drops(self.catalog.snapshot, self._existing_used(), recommended=self.chosen)
        self.result.drops = advice.drops
        self.result.notes.extend(advice.notes)
        for candidate, reason in sorted(self.whatif.broken.items(), key=lambda x: x[0].label()):
            # GIN ones are the unvalidated suggestions above; a function that is not
            # IMMUTABLE (date_trunc on timestamptz) can never be indexed: nothing to say
            if candidate.method == "btree" and "IMMUTABLE" not in reason:
                self.result.notes.append(f"could not simulate {candidate.label()}: {reason}")

    def _already_served(self, candidate: Candidate) -> bool:
        """An existing index seeks and orders the same way: adding INCLUDE columns to it, or
        a partial copy for one value of its leading column, would be a near-duplicate."""
        table = (candidate.table.schema, candidate.table.name)
        existing = self.catalog.snapshot.indexes_by_table.get(table, [])
        shapes = [candidate, candidate.unfolded()] if candidate.fixed else [candidate]
        keys_only = [replace(shape, include=()) for shape in shapes]
        if any(served_by(shape, index) for shape in keys_only for index in existing):
            return True
        # led by a column that is unique on its own: one row per value is already one
        # index probe away; a second index there only saves that row's heap fetch
        first = candidate.keys[0]
        return (
            candidate.method == "btree"
            and first.is_column
            and any(
                index.is_unique
                and index.is_valid
                and index.predicate is None
                and index.n_key_columns == 1
                and index.key_columns == [first.expr]
                for index in existing
            )
        )

    def _problem(
        self, candidates: list[Candidate], attributes: dict[TableName, list[IndexKey]]
    ) -> Problem:
        writes = _WriteModel(self.catalog, self.statements, self.base)
        pages = page_orders(s.analysis for s in self.statements)
        covering: dict[TableName, set[str]] = {}
        for candidate in candidates:
            covering.setdefault(candidate.table, set()).update(candidate.include)

        def widen(candidate: Candidate) -> list[Candidate]:
            """Extend's step (one more key column), or one more INCLUDE column."""
            if candidate.method != "btree" or candidate.width >= self.max_width:
                return []
            taken = {k.expr for k in candidate.keys} | set(candidate.include)
            wider = [
                extended(candidate, key)
                for key in attributes.get(candidate.table, [])
                if key.expr not in taken
            ]
            if all(k.is_column for k in candidate.keys):
                wider += [
                    with_include(candidate, column)
                    for column in sorted(covering.get(candidate.table, set()) - taken)
                ]
            return wider

        return Problem(
            workload=self.workload(),
            candidates=sorted(candidates, key=lambda c: c.label()),
            cost=self.costs(),
            size=self.size,
            write_cost=writes.cost,
            widen=widen,
            narrow=narrower,
            ordered=lambda c: [
                o
                for o in ordered(c, pages.get(c.table, set()))
                if o.width <= self.max_width and self.size(o) <= self._ordered_room(c)
            ],
            limits=self.limits,
            progress=self.say,
        )

    def _ordered_room(self, candidate: Candidate) -> float:
        """How large `candidate` with its page's ORDER BY keys may grow: ORDERED_GROWTH of it,
        or half the table's heap (a deduplicated tenant index can be tiny)."""
        stats = self.catalog.tables.get(candidate.table)
        heap = stats.relpages * self.catalog.snapshot.server.block_size if stats else 0
        return max(ORDERED_GROWTH * self.size(candidate), ORDERED_HEAP_SHARE * heap)

    def size(self, candidate: Candidate) -> int:
        stats = self.catalog.tables.get(candidate.table)
        if stats is None:
            return 0
        if candidate.method != "btree":
            column = candidate.keys[0].expr if candidate.keys[0].is_column else None
            return gin_bytes(stats, candidate.search or "", column)
        keys = [_key_width(stats, k.expr, k.is_column, candidate) for k in candidate.keys]
        include = [_key_width(stats, c, True, candidate) for c in candidate.include]
        return btree_bytes(stats, keys, include, selectivity=candidate.selectivity)

    # -- describing the chosen set --

    def _describe(self, selection: Selection) -> None:
        workload = self.workload()
        final = selection.final
        self.result.workload_cost_after = workload.total(final)
        writes = _WriteModel(self.catalog, self.statements, self.base)
        costs = self.costs()
        effects = {}
        for candidate in selection.chosen:
            # the index's own share: the workload without it, the rest of the set kept
            without = costs(frozenset(c for c in selection.chosen if c != candidate))
            helped = [
                s
                for s in self.statements
                if candidate in final[s.id].used and final[s.id].cost < self.base[s.id].cost
            ]
            effects[candidate] = _Effect(
                workload.total(without), workload.total(final), helped, final
            )
        # the biggest saving first, as a reader would rank them
        for candidate in sorted(effects, key=lambda c: effects[c].after - effects[c].before):
            if effects[candidate].after >= effects[candidate].before:
                # the others serve its statements as well: an index that saves nothing is
                # write cost and disk only, so it is never listed
                self.result.notes.append(
                    f"not recommended: {candidate.label()}: no benefit once the other "
                    "recommended indexes exist"
                )
                continue
            self._add(candidate, effects[candidate], write=writes.cost(candidate))
        texts = {s.id: s.text for s in self.statements}
        for left in selection.left_out:
            note = f"not recommended: {left.index.label()}: {left.why}"
            if left.statement is not None:
                note += f" ({_short(texts[left.statement])})"
            self.result.notes.append(note)

    def _add(
        self,
        candidate: Candidate,
        effect: _Effect,
        *,
        write: float = 0.0,
        confidence: Confidence | None = None,
        reason: str | None = None,
        requires: tuple[str, ...] = (),
    ) -> None:
        table = self.catalog.tables.get(candidate.table)
        partitioned = table is not None and table.kind == "p"
        name = self.names.allocate(candidate)
        definition = candidate.definition(name, concurrently=True, partitioned=partitioned)
        target = sql.Identifier(candidate.table.schema, name)
        drop = "DROP INDEX IF EXISTS {}" if partitioned else "DROP INDEX CONCURRENTLY IF EXISTS {}"
        queries = [
            QueryEffect(s.text, s.weight, self.base[s.id].cost, effect.final[s.id].cost)
            for s in effect.helped
        ]
        gain = max(effect.before - effect.after, 0.0)
        recommendation = IndexRecommendation(
            table=candidate.table.qualified,
            definition=render(definition),
            rollback=render(sql.SQL(drop).format(target)),
            estimated_bytes=self.size(candidate),
            confidence=confidence or _confidence(effect.helped),
            workload_cost_before=effect.before,
            workload_cost_after=effect.after,
            queries=queries,
            write_overhead=write / gain if gain > 0 else 0.0,
            reason=reason or _reason(candidate, effect, self.base, gain, write),
            requires=requires,
        )
        self.result.indexes.append(recommendation)
        self.added.append((recommendation, candidate, list(effect.helped)))

    # -- measured for real (advise --measure) --

    def measure(self) -> None:
        """Keep each recommendation only when its statements run faster with it for real."""
        kept = []
        for recommendation, candidate, helped in self.added:
            targets = [
                Target(s.planned.sql, s.planned.role, s.weight)
                for s in helped
                if not s.planned.generic
            ]
            if not targets or recommendation.requires:
                kept.append(recommendation)  # nothing runnable, or an extension to create first
                continue
            self.say(f"measuring {candidate.label()}")
            name = f"prodready_measure_{len(kept)}"
            try:
                measured = measure_index(
                    self.whatif.conn, name, candidate.definition(name), targets
                )
            except psycopg.Error as exc:
                self.result.notes.append(
                    f"could not measure {candidate.label()}: {_first_line(exc)}; kept, unmeasured"
                )
                kept.append(recommendation)
                continue
            if measured.faster:
                reason = measured.describe()
                if recommendation.confidence != "unvalidated":  # its estimate still holds
                    reason = f"{recommendation.reason}; {reason}"
                kept.append(replace(recommendation, confidence="measured", reason=reason))
            else:
                self.result.notes.append(
                    f"not recommended: {candidate.label()}: not faster for real, "
                    f"{measured.describe()}"
                )
        self.result.indexes = kept

    # -- without HypoPG: heuristics only --

    def _heuristic(self, asked: dict[Candidate, set[int]]) -> None:
        """One index per costly statement: the most specific b-tree its analysis suggests."""
        by_statement: dict[int, list[Candidate]] = {}
        for candidate, ids in asked.items():
            if candidate.method == "btree" and not candidate.include:
                for statement_id in ids:
                    by_statement.setdefault(statement_id, []).append(candidate)
        order = sorted(self.statements, key=lambda s: -s.weight * self.base[s.id].cost)
        picked: set[Candidate] = set()
        total = self.result.workload_cost_before
        for statement in order:
            options = by_statement.get(statement.id, [])
            if not options:
                continue
            best = max(options, key=lambda c: (len(c.keys), c.predicate is None, c.label()))
            if best in picked or not self._fits(self.size(best)):
                continue
            picked.add(best)
            self._add(
                best,
                _Effect(total, total, [statement], self.base),
                confidence="unvalidated",
                reason="heuristic: without HypoPG the planner could not confirm it would use it",
            )

    # -- GIN and trigram suggestions HypoPG cannot cost --

    def _unvalidated_searches(self, asked: dict[Candidate, set[int]]) -> None:
        total = self.result.workload_cost_after
        final = self.final_costs()
        for candidate, ids in sorted(asked.items(), key=lambda x: x[0].label()):
            if candidate.method == "btree" or candidate in self.chosen:
                continue
            if not self._fits(self.size(candidate)):
                continue
            if self.whatif.supports(candidate):
                continue  # it was costed, competed in the selection and lost
            stats = self.catalog.tables.get(candidate.table)
            if stats is None or stats.rows < GIN_MIN_ROWS:
                continue
            asking = [s for s in self.statements if s.id in ids]
            usable = [s for s in asking if self._blocked_by_rls(s, candidate) is None]
            # a statement an index already serves (existing or chosen) is left alone: an
            # uncosted index might only lure the planner off it (a LIMIT walk turned into a
            # bitmap scan and a sort)
            served = [s for s in usable if self._served(s, candidate.table, final)]
            helped = [s for s in usable if s not in served]
            could_save = GIN_EXPECTED_SAVING * sum(s.weight * final[s.id].cost for s in helped)
            floor = MIN_WORKLOAD_SHARE * self.result.workload_cost_after
            if could_save < max(self.limits.min_absolute_saving, floor):
                if len(usable) < len(asking):
                    self._note_rls(candidate, [s for s in asking if s not in usable])
                elif served:
                    self._note_served(candidate, served)
                continue
            self._add(
                candidate,
                _Effect(total, total, helped, final),
                confidence="unvalidated",
                reason=_search_reason(
                    candidate,
                    self.catalog.trgm,
                    self.catalog.trgm_available,
                    self.whatif.broken.get(candidate),
                ),
                requires=TRGM_REQUIREMENT
                if candidate.search == "trigram" and not self.catalog.trgm
                else (),
            )

    def _served(
        self, statement: _Statement, table: TableName, final: Mapping[int, PlanCost]
    ) -> bool:
        """Whether the statement's final plan reads `table` through an index."""
        cost = final[statement.id]
        if any(c.table == table for c in cost.used):
            return True
        return any(self._index_tables.get(name) == table for name in cost.used_existing)

    def _note_served(self, candidate: Candidate, served: list[_Statement]) -> None:
        self.result.notes.append(
            f"not recommended: {candidate.label()}: {len(served)} statement(s) it targets "
            "already read the table through an index, and an index the planner could not "
            f"cost might only replace that plan ({_short(served[0].text, 60)})"
        )

    def _blocked_by_rls(self, statement: _Statement, candidate: Candidate) -> str | None:
        """Why row-level security keeps the planner from using `candidate` for `statement`:
        a policy applies to its role and the search operator is not leakproof (such a qual
        may not run before the policy's, so it can never be an index condition)."""
        key = candidate.keys[0]
        ops = {
            search.op
            for scan in statement.analysis.scans_of(candidate.table)
            for search in scan.searches
            if search.kind == candidate.search and search.expr == key.expr
        }
        leaky = sorted(op for op in ops if not self.catalog.leakproof.get(op, False))
        if not leaky or len(leaky) < len(ops):
            return None
        role = statement.planned.role
        if not self.whatif.rls_applies(role, candidate.table):
            return None
        names = ", ".join(OPERATOR_NAMES.get(op, op) for op in leaky)
        return (
            f"row-level security applies to {role or 'the advisor login'} on "
            f"{candidate.table.qualified} and {names} is not leakproof, so the planner "
            "cannot use an index for it"
        )

    def _note_rls(self, candidate: Candidate, blocked: list[_Statement]) -> None:
        why = self._blocked_by_rls(blocked[0], candidate)
        shown = "; ".join(_short(s.text, 60) for s in blocked[:2])
        more = f" and {len(blocked) - 2} more" if len(blocked) > 2 else ""
        self.result.notes.append(
            f"not recommended: {candidate.label()}: {why}; it would only be written, never "
            f"read ({shown}{more}). A SECURITY DEFINER function or a policy-free path for "
            "the search lets an index serve it"
        )

    def _fits(self, size: int) -> bool:
        """Room for one more index of `size` bytes within max_indexes and the budget."""
        limits = self.limits
        if limits.max_indexes is not None and len(self.result.indexes) >= limits.max_indexes:
            return False
        used = sum(i.estimated_bytes for i in self.result.indexes)
        budget = limits.planning_budget
        return budget is None or used + size <= budget

    # -- existing indexes the workload uses, for drop validation --

    def final_costs(self) -> dict[int, PlanCost]:
        return dict(self.costs()(frozenset(self.chosen)))

    def _existing_used(self) -> set[tuple[str, str]]:
        """Existing indexes some workload plan uses under the recommended set."""
        final = self.final_costs()
        used: set[tuple[str, str]] = set()
        for statement in self.statements:
            used |= final[statement.id].used_existing
        return used


@dataclass(frozen=True)
class _Effect:
    """What one index does: workload cost without and with it, and the statements it helps."""

    before: float
    after: float
    helped: list[_Statement]
    final: Mapping[int, PlanCost]


# -- costs, writes, names --


class _CostFunction:
    """Workload costs under a configuration; a statement that fails keeps today's cost."""

    def __init__(
        self, whatif: WhatIf, statements: list[PlannedStatement], base: Mapping[int, PlanCost]
    ) -> None:
        self.whatif = whatif
        self.statements = statements
        self.base = base

    def __call__(self, config: frozenset[Candidate]) -> dict[int, PlanCost]:
        if not config:
            return dict(self.base)
        try:
            return self.whatif.plans(self.statements, config)
        except WhatIfError:
            found = {}
            for statement in self.statements:
                try:
                    found[statement.id] = self.whatif.plan(statement, config)
                except WhatIfError:
                    found[statement.id] = self.base[statement.id]
            return found


class _FilterShares:
    """The share of rows a plan node's Filter keeps, from pg_stats, for the what-if's
    LIMIT risk bound; None when the filter is more than literal predicates on columns."""

    def __init__(self, tables: Mapping[TableName, TableStats]) -> None:
        self.tables = tables
        self.known: dict[tuple[TableName, str], float | None] = {}

    def __call__(self, table: TableName, text: str) -> float | None:
        key = (table, text)
        if key not in self.known:
            self.known[key] = self._share(table, text)
        return self.known[key]

    def _share(self, table: TableName, text: str) -> float | None:
        stats = self.tables.get(table)
        constants = filter_constants(text) if stats is not None else None
        if stats is None or constants is None:
            return None
        share = 1.0
        for constant in constants:
            kept = stats.selectivity(constant.column, constant.kind, constant.values)
            if kept is None:
                return None
            share *= kept
        return share


class _WriteModel:
    """Index maintenance cost in the workload's frame, from its own writes and table rates."""

    def __init__(
        self, catalog: Catalog, statements: list[_Statement], base: Mapping[int, PlanCost]
    ) -> None:
        self.catalog = catalog
        self.rows: dict[TableName, dict[str, float]] = {}
        self.updates: dict[TableName, list[tuple[float, frozenset[str]]]] = {}
        for statement in statements:
            analysis = statement.analysis
            if analysis.written is None or analysis.kind == "select":
                continue
            rows = statement.weight * max(base[statement.id].rows_written, 1.0)
            counts = self.rows.setdefault(analysis.written, {"ins": 0.0, "upd": 0.0, "del": 0.0})
            counts[analysis.kind[:3]] += rows
            if analysis.kind == "update":
                self.updates.setdefault(analysis.written, []).append((rows, analysis.set_columns))
        self._from_table_statistics()

    def _from_table_statistics(self) -> None:
        """With a pg_stat_statements workload, the tables' own write rates share its frame."""
        window = self.catalog.workload_window_s
        age = self.catalog.snapshot.stats_age_seconds
        if not window or age < MIN_RATE_WINDOW_S:
            return
        factor = min(1.0, window / age)
        for table in self.catalog.snapshot.tables:
            name = TableName(table.schema, table.name)
            counts = self.rows.setdefault(name, {"ins": 0.0, "upd": 0.0, "del": 0.0})
            counts["ins"] = max(counts["ins"], (table.n_tup_ins or 0) * factor)
            non_hot = (table.n_tup_upd or 0) - (table.n_tup_hot_upd or 0)
            counts["upd"] = max(counts["upd"], non_hot * factor)
            counts["del"] = max(counts["del"], (table.n_tup_del or 0) * factor)

    def cost(self, candidate: Candidate) -> float:
        counts = self.rows.get(candidate.table)
        if counts is None:
            return 0.0
        share = candidate.selectivity  # a partial index sees only its rows
        entries = counts["ins"] + DELETE_SHARE * counts["del"]
        hot_lost = 0.0
        touched = 0.0
        for rows, columns in self.updates.get(candidate.table, []):
            if columns & candidate.columns:
                touched += rows
                if not self._indexed(candidate.table, columns):
                    hot_lost += rows  # these updates were HOT; now every index gets an entry
        untouched = max(0.0, counts["upd"] - touched)
        stats = self.catalog.tables.get(candidate.table)
        others = stats.n_indexes if stats else 0
        total = entries + touched + 0.5 * untouched + hot_lost * others
        return INDEX_WRITE_COST * share * total * self._scatter(candidate, stats)

    @staticmethod
    def _scatter(candidate: Candidate, stats: TableStats | None) -> float:
        """SCATTERED_INSERT_COST when new entries land all over the index: a leading key of
        many distinct values unrelated to insertion order (an external id, a UUID, a random
        foreign key). Each insert then dirties its own leaf page, where keys that grow with
        time or repeat (created_at, a tenant) fill the same few pages."""
        first = candidate.keys[0]
        column = stats.columns.get(first.expr) if stats is not None and first.is_column else None
        if stats is None or column is None or stats.rows <= 0:
            return 1.0
        distinct = stats.distinct(first.expr) or 0.0
        ordered = column.correlation is not None and column.correlation**2 >= CLUSTERED
        if distinct >= SCATTERED_DISTINCT_SHARE * stats.rows and not ordered:
            return SCATTERED_INSERT_COST
        return 1.0

    def _indexed(self, table: TableName, columns: frozenset[str]) -> bool:
        existing = self.catalog.snapshot.indexes_by_table.get((table.schema, table.name), [])
        return any(columns & set(index.columns) for index in existing)


class _Names:
    """Deterministic index names (<= 63 bytes) that collide with no relation in the schema."""

    def __init__(self, snap: Snapshot) -> None:
        self.taken: dict[str, set[str]] = {}
        for table in snap.tables:
            self.taken.setdefault(table.schema, set()).add(table.name)
        for index in snap.indexes:
            self.taken.setdefault(index.schema, set()).add(index.name)
        for view in snap.views:
            self.taken.setdefault(view.schema, set()).add(view.name)
        for sequence in snap.sequences:
            self.taken.setdefault(sequence.schema, set()).add(sequence.name)

    def allocate(self, candidate: Candidate) -> str:
        taken = self.taken.setdefault(candidate.table.schema, set())
        stem = candidate.stem()
        name = index_name(stem, "_idx")
        counter = 0
        while name in taken:
            counter += 1
            name = index_name(stem, f"_idx{counter}")
        taken.add(name)
        return name


def _key_width(stats: TableStats, expr: str, is_column: bool, candidate: Candidate) -> KeyWidth:
    column = stats.columns.get(expr) if is_column else None
    if column is not None:
        return KeyWidth(column.width(), column.align(), column.null_frac or 0.0, expr)
    # an expression: about as wide as the columns it reads (lower(email) ~ email)
    widths = [stats.columns[c].width() for c in candidate.columns if c in stats.columns]
    guess = min(max(widths, default=8), 64)
    return KeyWidth(guess, 8 if guess >= 8 else 4, 0.0, None)


def _short(text: str, limit: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _confidence(helped: list[_Statement]) -> Confidence:
    """Validated when every helped plan used the application's own values."""
    if helped and all(s.bound.method in ("literal", "log") for s in helped):
        return "validated"
    return "estimated"


def _reason(
    candidate: Candidate,
    effect: _Effect,
    base: Mapping[int, PlanCost],
    gain: float,
    write: float,
) -> str:
    helped = effect.helped
    if not helped:
        return "kept for the plans of the other recommended indexes"
    before = sum(s.weight * base[s.id].cost for s in helped)
    after = sum(s.weight * effect.final[s.id].cost for s in helped)
    speedup = f"{before / after:,.1f}x" if after > 0 else "to nothing"
    text = (
        f"the planner uses it for {len(helped)} statement(s), whose weighted cost drops "
        f"{speedup} ({before:,.0f} -> {after:,.0f})"
    )
    if candidate.include:
        text += "; INCLUDE columns allow index-only scans"
    if candidate.predicate:
        text += f"; partial: only rows WHERE {candidate.predicate}"
    if write > 0:
        text += f"; index maintenance costs about {write:,.0f} of its {gain:,.0f} saving"
    return text


def _search_reason(candidate: Candidate, trgm: bool, available: bool, why: str | None) -> str:
    kind = {
        "fulltext": "full-text search (@@)",
        "trigram": "substring search (LIKE/ILIKE with a leading wildcard)",
        "jsonb": "jsonb containment",
    }.get(candidate.search or "", "this search")
    text = ""
    if candidate.search == "trigram" and not trgm:
        # said first: the CREATE INDEX fails without it
        text = (
            "requires CREATE EXTENSION pg_trgm first (not installed in this database)"
            if available
            else "requires the pg_trgm extension, which this server lacks: install the "
            "PostgreSQL contrib package, then CREATE EXTENSION pg_trgm"
        ) + "; "
    return text + (
        f"{kind} cannot use a b-tree; HypoPG cannot simulate this GIN index"
        f"{f' ({why})' if why else ''}, so it is not costed: build it on a copy or in a "
        "maintenance window and compare EXPLAIN ANALYZE"
    )
